/* Not formatted: two-space indent and a brace on the wrong line. */
int bad(int a, int b) {
  if (a > b)
  {
    return a;
  }
  return b;
}
