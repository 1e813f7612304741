/* No include guard: a second include redefines the struct. */
struct no_guard {
    int n;
};
