/* Formatted as the repository's .clang-format wants. */
int good(int a, int b)
{
    if (a > b) {
        return a;
    }
    return b;
}
