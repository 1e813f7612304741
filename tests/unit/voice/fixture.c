#include "fixture.h"

#include <criterion/criterion.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"

char fx_dir[256];
char fx_path[300];
struct store *fx_store;
struct routes fx_routes = ROUTES_INIT;
struct voice_ctx fx_ctx;

static int capture_fd = -1;
static int saved_stderr = -1;
static char capture_path[320];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

long long fixture_now(void *arg)
{
    return FIXED_NOW;
}

void fixture_setup_store(void)
{
    const char *tmp = getenv("TMPDIR");
    int w = snprintf(fx_dir, sizeof(fx_dir), "%s/sb-voice-XXXXXX", tmp && *tmp ? tmp : "/tmp");

    cr_assert(w > 0 && (size_t)w < sizeof(fx_dir));
    cr_assert_not_null(mkdtemp(fx_dir));
    w = snprintf(fx_path, sizeof(fx_path), "%s/sb.db", fx_dir);
    cr_assert(w > 0 && (size_t)w < sizeof(fx_path));
    cr_assert_eq(store_open(&fx_store, fx_path), 0);
    memset(&fx_ctx, 0, sizeof(fx_ctx));
    fx_ctx.routes = &fx_routes;
    fx_ctx.stream_url = STREAM_URL;
    fx_ctx.now = fixture_now;
}

static void add_lang(struct tenant *t, const char *lang, const char *voice, const char *greeting)
{
    struct tenant_lang *l = &t->langs[t->nlangs++];

    snprintf(l->lang, sizeof(l->lang), "%s", lang);
    snprintf(l->voice, sizeof(l->voice), "%s", voice);
    snprintf(l->greeting, sizeof(l->greeting), "%s", greeting);
}

static void add_number(const char *e164, const char *tenant, enum plan plan, const char *agent,
                       int active)
{
    struct number n;

    memset(&n, 0, sizeof(n));
    snprintf(n.e164, sizeof(n.e164), "%s", e164);
    snprintf(n.tenant, sizeof(n.tenant), "%s", tenant);
    snprintf(n.agent, sizeof(n.agent), "%s", agent);
    n.plan = plan;
    n.active = active;
    cr_assert_eq(store_number_add(fx_store, &n), 0, "number %s", e164);
}

void fixture_setup(void)
{
    struct tenant t;

    fixture_setup_store();

    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "acme");
    snprintf(t.default_lang, sizeof(t.default_lang), "en-US");
    snprintf(t.transfer_number, sizeof(t.transfer_number), ACME_TRANSFER);
    add_lang(&t, "en-US", "Polly.Matthew", "Thanks for calling Acme & Sons.");
    add_lang(&t, "es", "Polly.Conchita", "Gracias por llamar a Acme.");
    cr_assert_eq(store_tenant_add(fx_store, &t), 0);

    memset(&t, 0, sizeof(t));
    snprintf(t.name, sizeof(t.name), "bodega");
    snprintf(t.default_lang, sizeof(t.default_lang), "es-MX");
    cr_assert_eq(store_tenant_add(fx_store, &t), 0);

    add_number(NUM_PRO, "acme", PLAN_PRO, "rules", 1);
    add_number(NUM_ENTERPRISE, "acme", PLAN_ENTERPRISE, "concierge", 1);
    add_number(NUM_STARTER, "acme", PLAN_STARTER, "rules", 1);
    add_number(NUM_BODEGA, "bodega", PLAN_STARTER, "rules", 1);
    add_number(NUM_INACTIVE, "acme", PLAN_STARTER, "rules", 0);
    add_number(NUM_NOT_E164, "acme", PLAN_STARTER, "rules", 1);

    cr_assert_eq(routes_refresh(&fx_routes, fx_store), 0);
    cr_assert_eq(fx_routes.count, 6);
}

void fixture_teardown(void)
{
    if (saved_stderr >= 0)
        free(capture_stop());
    stream_token_key_clear(&fx_ctx.stream_key);
    routes_release(&fx_routes);
    store_close(fx_store);
    fx_store = NULL;
    if (fx_dir[0])
        nftw(fx_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void encode(struct buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int rc;

        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~')
            rc = buf_putc(b, (char)*p);
        else if (*p == ' ')
            rc = buf_putc(b, '+');
        else
            rc = buf_printf(b, "%%%02X", *p);
        cr_assert_eq(rc, 0);
    }
}

void form_from(struct form *f, ...)
{
    struct buf b = BUF_INIT(1 << 16);
    const char *key;
    va_list ap;
    int first = 1;

    va_start(ap, f);
    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);

        if (!first)
            cr_assert_eq(buf_putc(&b, '&'), 0);
        first = 0;
        encode(&b, key);
        cr_assert_eq(buf_putc(&b, '='), 0);
        encode(&b, value);
    }
    va_end(ap);
    *f = (struct form)FORM_INIT;
    cr_assert_eq(form_parse(f, buf_cstr(&b), b.len), 0);
    buf_release(&b);
}

void capture_start(void)
{
    int w = snprintf(capture_path, sizeof(capture_path), "%s/stderr.log", fx_dir);

    cr_assert(w > 0 && (size_t)w < sizeof(capture_path));
    capture_fd = open(capture_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    cr_assert(capture_fd >= 0);
    saved_stderr = dup(STDERR_FILENO);
    cr_assert(saved_stderr >= 0);
    cr_assert(dup2(capture_fd, STDERR_FILENO) >= 0);
}

char *capture_stop(void)
{
    struct buf b = BUF_INIT(1 << 20);
    char chunk[4096];
    ssize_t n;
    char *text;

    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    saved_stderr = -1;
    lseek(capture_fd, 0, SEEK_SET);
    while ((n = read(capture_fd, chunk, sizeof(chunk))) > 0)
        cr_assert_eq(buf_append(&b, chunk, (size_t)n), 0);
    close(capture_fd);
    capture_fd = -1;
    text = buf_detach(&b, NULL);
    cr_assert_not_null(text);
    return text;
}
