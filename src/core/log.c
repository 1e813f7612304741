#include "core/log.h"

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/utf8.h"
#include "core/banned.h"

#define LOG_LINE_SIZE 4096
/* Room kept at the end of a line for a closing quote and the newline. */
#define LOG_LINE_RESERVE 2
/* Bounds on a number's width and precision, so one number fits its buffer. */
#define LOG_NUM_MAX 256

static enum log_level min_level = LOG_INFO;
static int log_fd = STDERR_FILENO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
    min_level = level;
}

void log_set_fd(int fd)
{
    log_fd = fd;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return SB_EINVAL;
}

int log_enabled(enum log_level level)
{
    return level >= min_level;
}

/*
 * A line being built; `full` once something did not fit (nothing more is
 * added then); `open` while a quoted value is being written.
 */
struct line {
    char buf[LOG_LINE_SIZE];
    size_t n;
    int full;
    int open;
};

/* Appends all of `s` or, when it does not fit, nothing: escapes are never cut. */
static void put(struct line *l, const char *s, size_t len)
{
    if (l->full || len > sizeof(l->buf) - LOG_LINE_RESERVE - l->n) {
        l->full = 1;
        return;
    }
    memcpy(l->buf + l->n, s, len);
    l->n += len;
}

static void put_char(struct line *l, char c)
{
    put(l, &c, 1);
}

/* How a string is escaped, by where its conversion stands in the format. */
enum str_mode {
    MODE_QUOTED, /* inside quotes the format writes */
    MODE_VALUE,  /* right after `=`: quoted by the logger when needed */
    MODE_BARE,   /* elsewhere */
};

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    return utf8_decode(s, n, NULL);
}

/* True when an unquoted value must be quoted to stay one token. */
static int needs_quotes(const unsigned char *s, size_t n)
{
    if (n == 0)
        return 1;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_len(s + i, n - i);

        if (len == 0 || s[i] < 0x20 || s[i] == 0x7f || s[i] == ' ' || s[i] == '=' || s[i] == '"')
            return 1;
        i += len;
    }
    return 0;
}

static void put_escaped(struct line *l, const unsigned char *s, size_t n, enum str_mode mode)
{
    char esc[8];

    for (size_t i = 0; i < n && !l->full;) {
        unsigned char c = s[i];
        size_t len = utf8_len(s + i, n - i);

        if (len > 1) {
            put(l, (const char *)s + i, len);
            i += len;
            continue;
        }
        i++;
        if (c == '\n')
            put(l, "\\n", 2);
        else if (c == '\r')
            put(l, "\\r", 2);
        else if (c == '\t')
            put(l, "\\t", 2);
        else if (len == 0 || c < 0x20 || c == 0x7f || (c == '"' && mode == MODE_BARE)) {
            snprintf(esc, sizeof(esc), "\\x%02x", c);
            put(l, esc, 4);
        } else if (c == '"' || c == '\\') {
            if (mode == MODE_BARE) {
                put_char(l, (char)c);
            } else {
                esc[0] = '\\';
                esc[1] = (char)c;
                put(l, esc, 2);
            }
        } else {
            put_char(l, (char)c);
        }
    }
}

static void put_string(struct line *l, const char *s, size_t n, enum str_mode mode)
{
    if (mode == MODE_VALUE) {
        if (!needs_quotes((const unsigned char *)s, n)) {
            put(l, s, n);
            return;
        }
        put_char(l, '"');
        if (!l->full)
            l->open = 1;
        put_escaped(l, (const unsigned char *)s, n, MODE_QUOTED);
        put_char(l, '"');
        if (!l->full)
            l->open = 0;
        return;
    }
    put_escaped(l, (const unsigned char *)s, n, mode);
}

/* One parsed conversion: `%[flags][width][.precision][length]conv`. */
struct spec {
    char flags[8];
    int width;     /* -1: none */
    int precision; /* -1: none */
    char length[3];
    char conv;
};

/* Parses the conversion after a '%'; `*` widths are taken from `ap`. Returns the end or NULL. */
static const char *parse_spec(const char *p, struct spec *sp, va_list *ap)
{
    size_t nf = 0;

    memset(sp, 0, sizeof(*sp));
    sp->width = -1;
    sp->precision = -1;
    while (*p && strchr("-+ #0", *p)) {
        if (nf < sizeof(sp->flags) - 2)
            sp->flags[nf++] = *p;
        p++;
    }
    if (*p == '*') {
        sp->width = va_arg(*ap, int);
        if (sp->width < 0) {
            sp->flags[nf++] = '-';
            sp->width = sp->width == INT_MIN ? LOG_NUM_MAX : -sp->width;
        }
        p++;
    } else {
        if (*p >= '0' && *p <= '9')
            sp->width = 0;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (sp->width <= LOG_NUM_MAX)
                sp->width = sp->width * 10 + (*p - '0');
        }
    }
    if (*p == '.') {
        p++;
        if (*p == '*') {
            sp->precision = va_arg(*ap, int);
            if (sp->precision < 0)
                sp->precision = -1;
            p++;
        } else {
            /* A string's precision may be large: bounded only to stay an int. */
            for (sp->precision = 0; *p >= '0' && *p <= '9'; p++) {
                if (sp->precision < 100000000)
                    sp->precision = sp->precision * 10 + (*p - '0');
            }
        }
    }
    if ((p[0] == 'h' && p[1] == 'h') || (p[0] == 'l' && p[1] == 'l')) {
        memcpy(sp->length, p, 2);
        p += 2;
    } else if (*p && strchr("hlzjtL", *p)) {
        sp->length[0] = *p++;
    }
    if (!*p || !strchr("diouxXcsfFeEgGaApn", *p))
        return NULL;
    sp->conv = *p++;
    return p;
}

/* The printf format for one number, with `*` already resolved and bounds applied. */
static void spec_format(const struct spec *sp, char *out, size_t size)
{
    int w = sp->width > LOG_NUM_MAX ? LOG_NUM_MAX : sp->width;
    int pr = sp->precision > LOG_NUM_MAX ? LOG_NUM_MAX : sp->precision;
    char wbuf[16] = "", pbuf[16] = "";

    if (w >= 0)
        snprintf(wbuf, sizeof(wbuf), "%d", w);
    if (pr >= 0)
        snprintf(pbuf, sizeof(pbuf), ".%d", pr);
    snprintf(out, size, "%%%s%s%s%s%c", sp->flags, wbuf, pbuf, sp->length, sp->conv);
}

/* The formats are built from the caller's, which the compiler checked at the call site. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

/* Takes the number `sp` describes from `ap` and formats it into `out`. */
static void format_number(const struct spec *sp, va_list *ap, char *out, size_t size)
{
    char f[48];
    const char *len = sp->length;
    int is_signed = sp->conv == 'd' || sp->conv == 'i';

    spec_format(sp, f, sizeof(f));
    out[0] = '\0';
    if (strchr("fFeEgGaA", sp->conv)) {
        if (len[0] == 'L')
            snprintf(out, size, f, va_arg(*ap, long double));
        else
            snprintf(out, size, f, va_arg(*ap, double));
    } else if (sp->conv == 'p') {
        snprintf(out, size, f, va_arg(*ap, void *));
    } else if (strcmp(len, "ll") == 0 || len[0] == 'L') {
        if (is_signed)
            snprintf(out, size, f, va_arg(*ap, long long));
        else
            snprintf(out, size, f, va_arg(*ap, unsigned long long));
    } else if (len[0] == 'l') {
        if (is_signed)
            snprintf(out, size, f, va_arg(*ap, long));
        else
            snprintf(out, size, f, va_arg(*ap, unsigned long));
    } else if (len[0] == 'z') {
        if (is_signed)
            snprintf(out, size, f, va_arg(*ap, ssize_t));
        else
            snprintf(out, size, f, va_arg(*ap, size_t));
    } else if (len[0] == 'j') {
        if (is_signed)
            snprintf(out, size, f, va_arg(*ap, intmax_t));
        else
            snprintf(out, size, f, va_arg(*ap, uintmax_t));
    } else if (len[0] == 't') {
        snprintf(out, size, f, va_arg(*ap, ptrdiff_t));
    } else if (is_signed) {
        /* hh and h arguments arrive promoted to int; printf narrows them. */
        snprintf(out, size, f, va_arg(*ap, int));
    } else {
        snprintf(out, size, f, va_arg(*ap, unsigned int));
    }
}

#pragma GCC diagnostic pop

/* Formats the key=value tail, escaping every string by where it stands. */
static void format_tail(struct line *l, const char *fmt, va_list *ap)
{
    int in_quotes = 0;
    char prev = 0; /* the format's previous literal character, 0 after a conversion */
    char num[LOG_NUM_MAX * 2 + 64];

    for (const char *p = fmt; *p && !l->full;) {
        struct spec sp;
        enum str_mode mode;
        const char *next;

        if (*p != '%' || p[1] == '%') {
            put_char(l, *p);
            if (*p == '"' && !l->full)
                l->open = in_quotes = !in_quotes;
            prev = *p;
            p += *p == '%' ? 2 : 1;
            continue;
        }
        next = parse_spec(p + 1, &sp, ap);
        if (!next) {
            /* Not a conversion printf knows: the rest is not trusted with arguments. */
            put_escaped(l, (const unsigned char *)p, strlen(p), MODE_BARE);
            break;
        }
        p = next;
        mode = in_quotes ? MODE_QUOTED : prev == '=' ? MODE_VALUE : MODE_BARE;
        prev = 0;
        if (sp.conv == 's') {
            const char *s;

            if (sp.length[0] == 'l') { /* wide strings are not used: consumed, not read */
                (void)va_arg(*ap, void *);
                s = "?";
            } else {
                s = va_arg(*ap, const char *);
                if (!s)
                    s = "(null)";
            }
            put_string(l, s, sp.precision >= 0 ? strnlen(s, (size_t)sp.precision) : strlen(s),
                       mode);
        } else if (sp.conv == 'c') {
            char c = (char)va_arg(*ap, int);

            put_string(l, &c, 1, mode);
        } else if (sp.conv == 'n') {
            (void)va_arg(*ap, void *);
        } else {
            format_number(&sp, ap, num, sizeof(num));
            put_string(l, num, strlen(num), mode == MODE_VALUE ? MODE_BARE : mode);
        }
    }
    /* A cut line still ends its quoted value, so that it parses. */
    if (l->full && l->open)
        l->buf[l->n++] = '"';
}

void log_event(enum log_level level, const char *event, const char *fmt, ...)
{
    struct line l;
    struct timespec ts;
    struct tm tm;
    char head[96];
    int w;
    va_list ap;

    if (level < min_level)
        return;
    l.n = 0;
    l.full = 0;
    l.open = 0;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    w = snprintf(head, sizeof(head),
                 "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s event=", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                 level_names[level]);
    put(&l, head, w < 0 ? 0 : (size_t)w);
    put_string(&l, event ? event : "-", event ? strlen(event) : 1, MODE_VALUE);
    if (fmt && *fmt) {
        put_char(&l, ' ');
        va_start(ap, fmt);
        format_tail(&l, fmt, &ap);
        va_end(ap);
    }
    l.buf[l.n++] = '\n';
    /* One write(2) per line keeps lines whole across threads. */
    if (write(log_fd, l.buf, l.n) < 0)
        return;
}
