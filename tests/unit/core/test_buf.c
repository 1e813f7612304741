/* Tests for core/buf: the bounded growable buffer. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"

Test(buf, fresh_buffer_is_empty_and_unallocated)
{
    struct buf b = BUF_INIT(100);

    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.max, 100);
    cr_assert_str_eq(buf_cstr(&b), "");
}

Test(buf, init_matches_static_initializer)
{
    struct buf b;

    memset(&b, 0xa5, sizeof(b));
    buf_init(&b, 7);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.cap, 0);
    cr_assert_eq(b.max, 7);
}

Test(buf, append_puts_putc)
{
    struct buf b = BUF_INIT(100);

    cr_assert_eq(buf_append(&b, "ab", 2), 0);
    cr_assert_eq(buf_puts(&b, "cd"), 0);
    cr_assert_eq(buf_putc(&b, 'e'), 0);
    cr_assert_eq(b.len, 5);
    cr_assert_str_eq(buf_cstr(&b), "abcde");
    cr_assert_eq(b.data[5], '\0');
    buf_release(&b);
}

Test(buf, zero_length_append_terminates)
{
    struct buf b = BUF_INIT(10);

    cr_assert_eq(buf_append(&b, "", 0), 0);
    cr_assert_not_null(b.data);
    cr_assert_eq(b.len, 0);
    cr_assert_str_eq(b.data, "");
    buf_release(&b);
}

Test(buf, growth_keeps_contents)
{
    struct buf b = BUF_INIT(1 << 20);
    size_t i;

    /* 10000 appends force several reallocations past the 64-byte start. */
    for (i = 0; i < 10000; i++)
        cr_assert_eq(buf_putc(&b, (char)('a' + i % 26)), 0);
    cr_assert_eq(b.len, 10000);
    cr_assert_geq(b.cap, b.len + 1);
    for (i = 0; i < 10000; i++)
        cr_assert_eq(b.data[i], (char)('a' + i % 26), "byte %zu", i);
    cr_assert_eq(b.data[10000], '\0');
    buf_release(&b);
}

Test(buf, embedded_nul_bytes_are_kept)
{
    struct buf b = BUF_INIT(16);

    cr_assert_eq(buf_append(&b, "a\0b", 3), 0);
    cr_assert_eq(b.len, 3);
    cr_assert_eq(memcmp(b.data, "a\0b", 4), 0);
    buf_release(&b);
}

Test(buf, exactly_max_fits)
{
    struct buf b = BUF_INIT(5);

    cr_assert_eq(buf_append(&b, "12345", 5), 0);
    cr_assert_eq(b.len, 5);
    cr_assert_str_eq(buf_cstr(&b), "12345");
    /* The cap never needs to exceed max plus the NUL. */
    cr_assert_leq(b.cap, 6);
    buf_release(&b);
}

Test(buf, past_max_is_toobig_and_changes_nothing)
{
    struct buf b = BUF_INIT(5);

    cr_assert_eq(buf_puts(&b, "1234"), 0);
    cr_assert_eq(buf_puts(&b, "56"), SB_ETOOBIG);
    cr_assert_eq(b.len, 4);
    cr_assert_str_eq(buf_cstr(&b), "1234");
    cr_assert_eq(buf_putc(&b, '5'), 0);
    cr_assert_eq(buf_putc(&b, '6'), SB_ETOOBIG);
    cr_assert_str_eq(buf_cstr(&b), "12345");
    buf_release(&b);
}

Test(buf, huge_length_is_toobig_without_overflow)
{
    struct buf b = BUF_INIT(100);

    cr_assert_eq(buf_puts(&b, "x"), 0);
    cr_assert_eq(buf_append(&b, "y", SIZE_MAX), SB_ETOOBIG);
    cr_assert_eq(buf_append(&b, "y", SIZE_MAX - 1), SB_ETOOBIG);
    cr_assert_eq(b.len, 1);
    buf_release(&b);
}

Test(buf, max_zero_accepts_only_empty)
{
    struct buf b = BUF_INIT(0);

    cr_assert_eq(buf_putc(&b, 'x'), SB_ETOOBIG);
    cr_assert_eq(buf_append(&b, "", 0), 0);
    cr_assert_str_eq(buf_cstr(&b), "");
    buf_release(&b);
}

Test(buf, unbounded_maximum_still_grows)
{
    /*
     * SIZE_MAX is the natural way to ask for "no limit"; capacity must not be
     * clamped to max + 1, which wraps to 0 there.
     */
    struct buf b = BUF_INIT(SIZE_MAX);

    cr_assert_eq(buf_puts(&b, "hello"), 0);
    cr_assert_geq(b.cap, 6);
    cr_assert_str_eq(buf_cstr(&b), "hello");
    buf_release(&b);
}

Test(buf, printf_formats)
{
    struct buf b = BUF_INIT(100);

    cr_assert_eq(buf_printf(&b, "%s=%d", "n", 42), 0);
    cr_assert_eq(buf_printf(&b, " %05.1f|%-3s|%x", 2.5, "a", 255u), 0);
    cr_assert_str_eq(buf_cstr(&b), "n=42 002.5|a  |ff");
    cr_assert_eq(b.len, strlen("n=42 002.5|a  |ff"));
    buf_release(&b);
}

Test(buf, printf_empty_result)
{
    struct buf b = BUF_INIT(10);

    cr_assert_eq(buf_printf(&b, "%s", ""), 0);
    cr_assert_eq(b.len, 0);
    cr_assert_str_eq(buf_cstr(&b), "");
    buf_release(&b);
}

Test(buf, printf_grows_past_initial_capacity)
{
    struct buf b = BUF_INIT(4096);
    char expect[1001];

    memset(expect, 'z', 1000);
    expect[1000] = '\0';
    cr_assert_eq(buf_puts(&b, "ab"), 0);
    cr_assert_eq(buf_printf(&b, "%s", expect), 0);
    cr_assert_eq(b.len, 1002);
    cr_assert_eq(memcmp(b.data, "ab", 2), 0);
    cr_assert_str_eq(b.data + 2, expect);
    buf_release(&b);
}

Test(buf, printf_past_max_is_toobig_and_changes_nothing)
{
    struct buf b = BUF_INIT(8);

    cr_assert_eq(buf_printf(&b, "%d", 1234), 0);
    cr_assert_eq(buf_printf(&b, "%d", 12345), SB_ETOOBIG);
    cr_assert_eq(b.len, 4);
    cr_assert_str_eq(buf_cstr(&b), "1234");
    cr_assert_eq(buf_printf(&b, "%d", 5678), 0);
    cr_assert_str_eq(buf_cstr(&b), "12345678");
    buf_release(&b);
}

Test(buf, reset_keeps_memory)
{
    struct buf b = BUF_INIT(100);
    char *data;
    size_t cap;

    cr_assert_eq(buf_puts(&b, "hello"), 0);
    data = b.data;
    cap = b.cap;
    buf_reset(&b);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.data, data);
    cr_assert_eq(b.cap, cap);
    cr_assert_str_eq(buf_cstr(&b), "");
    cr_assert_eq(buf_puts(&b, "xy"), 0);
    cr_assert_str_eq(buf_cstr(&b), "xy");
    cr_assert_eq(b.data, data);
    buf_release(&b);
}

Test(buf, reset_of_unallocated_buffer)
{
    struct buf b = BUF_INIT(10);

    buf_reset(&b);
    cr_assert_null(b.data);
    cr_assert_str_eq(buf_cstr(&b), "");
}

Test(buf, reset_restores_room_up_to_max)
{
    struct buf b = BUF_INIT(3);

    cr_assert_eq(buf_puts(&b, "abc"), 0);
    cr_assert_eq(buf_putc(&b, 'd'), SB_ETOOBIG);
    buf_reset(&b);
    cr_assert_eq(buf_puts(&b, "def"), 0);
    cr_assert_str_eq(buf_cstr(&b), "def");
    buf_release(&b);
}

Test(buf, detach_hands_over_memory)
{
    struct buf b = BUF_INIT(100);
    size_t len = 0;
    char *p;

    cr_assert_eq(buf_puts(&b, "owned"), 0);
    p = buf_detach(&b, &len);
    cr_assert_not_null(p);
    cr_assert_str_eq(p, "owned");
    cr_assert_eq(len, 5);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.cap, 0);
    cr_assert_eq(b.max, 100);
    /* The buffer is reusable and independent of the detached memory. */
    cr_assert_eq(buf_puts(&b, "new"), 0);
    cr_assert_str_eq(p, "owned");
    cr_assert_str_eq(buf_cstr(&b), "new");
    free(p);
    buf_release(&b);
}

Test(buf, detach_of_empty_buffer_returns_allocated_empty_string)
{
    struct buf b = BUF_INIT(10);
    size_t len = 99;
    char *p = buf_detach(&b, &len);

    cr_assert_not_null(p);
    cr_assert_str_eq(p, "");
    cr_assert_eq(len, 0);
    free(p);
}

Test(buf, detach_with_null_len)
{
    struct buf b = BUF_INIT(10);
    char *p;

    cr_assert_eq(buf_puts(&b, "x"), 0);
    p = buf_detach(&b, NULL);
    cr_assert_str_eq(p, "x");
    free(p);
}

Test(buf, release_then_reuse)
{
    struct buf b = BUF_INIT(10);

    cr_assert_eq(buf_puts(&b, "abc"), 0);
    buf_release(&b);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.cap, 0);
    cr_assert_eq(b.max, 10);
    cr_assert_str_eq(buf_cstr(&b), "");
    buf_release(&b);
    cr_assert_eq(buf_puts(&b, "0123456789"), 0);
    cr_assert_eq(buf_putc(&b, 'x'), SB_ETOOBIG);
    buf_release(&b);
}
