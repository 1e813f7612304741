/*
 * core/ through every failing allocation: form_parse, the TwiML builder,
 * signatures, stream tokens, and the logger (which must allocate nothing).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/form.h"
#include "core/log.h"
#include "core/sig.h"
#include "core/stream_token.h"
#include "core/twiml.h"
#include "oom.h"

static int openssl_routed;

static void setup(void)
{
    openssl_routed = oom_route_openssl();
}

TestSuite(oom_core, .init = setup);

/* ---- form_parse ---- */

/* A gather callback in Spanish: accents, ñ, ¿ and ¡, many fields. */
static const char *const form_pairs[][2] = {
    {"AccountSid", "AC00000000000000000000000000000001"},
    {"ApiVersion", "2010-04-01"},
    {"CallSid", "CA00000000000000000000000000000001"},
    {"CallStatus", "in-progress"},
    {"Called", "+15005550006"},
    {"CalledCity", "San José"},
    {"CalledCountry", "US"},
    {"Caller", "+5215512345678"},
    {"CallerCity", "Ciudad de México"},
    {"CallerCountry", "MX"},
    {"CallerState", "Michoacán"},
    {"Confidence", "0.9123"},
    {"Direction", "inbound"},
    {"From", "+5215512345678"},
    {"FromCity", "León"},
    {"FromCountry", "MX"},
    {"Language", "es-MX"},
    {"SpeechResult", "¿Cuál es el horario de atención mañana? ¡Gracias, señorita!"},
    {"To", "+15005550006"},
    {"ToCity", "Peñasco"},
    {"Digits", ""},
    {"empty", NULL},
    {"Nota", "Añadir \"comillas\" & ampersand = igual + más"},
    {"Pregunta", "¿Dónde está la sucursal de Querétaro?"},
    {"Respuesta", "Está en la avenida Constitución, número 100."},
};

static char form_text[4096];
static size_t form_len;
static struct form form_ref;

static void form_append(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        cr_assert_lt(form_len + 3, sizeof(form_text));
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_') {
            form_text[form_len++] = (char)*p;
        } else if (*p == ' ') {
            form_text[form_len++] = '+';
        } else {
            form_text[form_len++] = '%';
            form_text[form_len++] = hex[*p >> 4];
            form_text[form_len++] = hex[*p & 15];
        }
    }
}

static void form_build(void)
{
    form_len = 0;
    for (size_t i = 0; i < sizeof(form_pairs) / sizeof(form_pairs[0]); i++) {
        if (i)
            form_text[form_len++] = '&';
        form_append(form_pairs[i][0]);
        if (form_pairs[i][1]) {
            form_text[form_len++] = '=';
            form_append(form_pairs[i][1]);
        }
    }
    /* Empty pairs are skipped. */
    memcpy(form_text + form_len, "&&", 2);
    form_len += 2;
    form_text[form_len] = '\0';
}

static int same_form(const struct form *a, const struct form *b)
{
    if (a->count != b->count)
        return 0;
    for (size_t i = 0; i < a->count; i++) {
        if (strcmp(a->fields[i].key, b->fields[i].key) ||
            strcmp(a->fields[i].value, b->fields[i].value))
            return 0;
    }
    return 1;
}

static int run_form(void *ctx)
{
    struct form f = FORM_INIT;
    int rc = form_parse(&f, form_text, form_len);

    if (rc == 0 && !same_form(&f, &form_ref))
        rc = OOM_WRONG;
    if (rc < 0 && (f.fields || f.storage || f.count))
        rc = OOM_WRONG; /* "On error the form is empty" */
    form_release(&f);
    return rc;
}

Test(oom_core, form_parse_spanish)
{
    form_build();
    cr_assert_eq(form_parse(&form_ref, form_text, form_len), 0);
    cr_assert_eq(form_ref.count, sizeof(form_pairs) / sizeof(form_pairs[0]));
    cr_assert_str_eq(form_get(&form_ref, "SpeechResult"), form_pairs[17][1]);
    oom_drive("form_parse", run_form, NULL, NULL);
    form_release(&form_ref);
}

/* ---- the TwiML builder ---- */

static char *twiml_ref;

/* A Spanish pro-plan answer: greeting, a gather, then the media stream. */
static int build_twiml(char **out, size_t *len)
{
    static const char *const say_attrs[] = {"voice", "Polly.Mia", "language", "es-MX", NULL};
    static const char *const gather_attrs[] = {
        "input",   "speech dtmf", "action", "/voice/gather?step=1&lang=es-MX", "language", "es-MX",
        "timeout", "5",           "hints",  "cita, factura, \"persona\"",      NULL};
    static const char *const stream_attrs[] = {"url",
                                               "wss://voice.example.com/media?tenant=acme&x=<1>",
                                               "track",
                                               "inbound_track",
                                               "statusCallback",
                                               NULL,
                                               NULL};
    static const char *const p_tenant[] = {"name", "tenant", "value", "Peluquería Ñandú", NULL};
    static const char *const p_lang[] = {"name", "lang", "value", "es-MX", NULL};
    static const char *const p_token[] = {"name", "token", "value",
                                          "q83vEjRUVniQq83vEjRUVniQq83vEjRUVniQq83vEjQ=", NULL};
    struct twiml t;

    twiml_init(&t);
    twiml_leaf(&t, "Say", say_attrs,
               "¡Hola! Gracias por llamar a la Peluquería Ñandú, en la calle Mayor número 5 "
               "de Logroño. Nuestro horario es de lunes a viernes, de nueve a diecisiete.");
    twiml_open(&t, "Gather", gather_attrs);
    twiml_leaf(&t, "Say", say_attrs, "¿En qué le puedo ayudar? Diga «cita» o pulse 1 & espere.");
    twiml_close(&t);
    twiml_leaf(&t, "Pause", (const char *const[]){"length", "1", NULL}, NULL);
    twiml_open(&t, "Connect", NULL);
    twiml_open(&t, "Stream", stream_attrs);
    twiml_leaf(&t, "Parameter", p_tenant, NULL);
    twiml_leaf(&t, "Parameter", p_lang, NULL);
    twiml_leaf(&t, "Parameter", p_token, NULL);
    twiml_close(&t);
    twiml_close(&t);
    twiml_leaf(&t, "Say", say_attrs, "Adiós.");
    twiml_leaf(&t, "Hangup", NULL, NULL);
    return twiml_finish(&t, out, len);
}

static int run_twiml(void *ctx)
{
    char *doc = NULL;
    size_t len = 0;
    int rc = build_twiml(&doc, &len);

    if (rc == 0 && (len != strlen(twiml_ref) || strcmp(doc, twiml_ref) != 0))
        rc = OOM_WRONG;
    if (rc < 0 && doc)
        rc = OOM_WRONG; /* "nothing is handed out" */
    free(doc);
    return rc;
}

Test(oom_core, twiml_builder_spanish)
{
    size_t len;

    cr_assert_eq(build_twiml(&twiml_ref, &len), 0);
    cr_assert(strstr(twiml_ref, "<Parameter name=\"tenant\" value=\"Peluquería Ñandú\" />"), "%s",
              twiml_ref);
    cr_assert(strstr(twiml_ref, "¿En qué le puedo ayudar? Diga «cita» o pulse 1 &amp; espere."));
    oom_drive("twiml builder", run_twiml, NULL, NULL);
    free(twiml_ref);
}

/* twiml_release after a failed build, without finishing. */
static int run_twiml_release(void *ctx)
{
    struct twiml t;
    int rc;

    twiml_init(&t);
    twiml_open(&t, "Gather", (const char *const[]){"input", "speech", NULL});
    twiml_leaf(&t, "Say", NULL, "Por favor, dígame su número de cliente después de la señal.");
    rc = twiml_close(&t);
    twiml_release(&t);
    return rc;
}

Test(oom_core, twiml_release_after_failure)
{
    oom_drive("twiml release", run_twiml_release, NULL, NULL);
}

/* ---- buf ---- */

static int run_buf(void *ctx)
{
    struct buf b = BUF_INIT(1 << 20);
    char *s;
    size_t len;
    int rc = 0;

    for (int i = 0; i < 200 && rc == 0; i++)
        rc = buf_printf(&b, "%d:¿%s? ", i, "señal");
    if (rc == 0)
        rc = twiml_escape_attr(&b, "\"comillas\" & <ángulos>\n");
    if (rc) {
        buf_release(&b);
        return rc;
    }
    s = buf_detach(&b, &len);
    if (!s)
        return SB_ENOMEM;
    if (len != strlen(s) || strncmp(s, "0:¿señal? 1:¿señal? ", 22) != 0 ||
        !strstr(s, "199:¿señal? &quot;comillas&quot; &amp; &lt;ángulos&gt;&#10;"))
        rc = OOM_WRONG;
    free(s);
    return rc;
}

Test(oom_core, buf_growth_and_detach)
{
    oom_drive("buf", run_buf, NULL, NULL);
}

static int run_buf_detach_empty(void *ctx)
{
    struct buf b = BUF_INIT(16);
    size_t len = 1;
    char *s = buf_detach(&b, &len);

    int rc;

    if (!s)
        return SB_ENOMEM;
    rc = *s == '\0' && len == 0 ? 0 : OOM_WRONG;
    free(s);
    return rc;
}

Test(oom_core, buf_detach_empty)
{
    oom_drive("buf_detach empty", run_buf_detach_empty, NULL, NULL);
}

/* ---- signatures ---- */

#define TOKEN "12345678901234567890123456789012"
#define URL "https://voice.example.com:443/voice/gather?step=2&lang=es-MX"

static char sig_ref[SIG_B64_SIZE];

static void need_openssl(void)
{
    if (!openssl_routed)
        cr_skip_test("OpenSSL allocated before its allocator could be set");
}

/* The signatures are valid: a failure may be an error, never a mismatch. */
static int not_bad(int rc)
{
    return rc == SB_EBADSIG ? OOM_WRONG : rc;
}

static int run_sig_validate(void *ctx)
{
    return not_bad(sig_validate(TOKEN, URL, &form_ref, sig_ref));
}

static int run_sig_key(void *ctx)
{
    struct sig_key *k = NULL;
    int rc = sig_key_new(&k, TOKEN);

    if (rc == 0)
        rc = sig_key_validate(k, URL, &form_ref, sig_ref);
    sig_key_free(k);
    return not_bad(rc);
}

static const char sig_body[] = "{\"texto\":\"¿Qué tal?\"}";

static int run_sig_body(void *ctx)
{
    return not_bad(sig_validate_body(TOKEN, ctx, sig_body, sizeof(sig_body) - 1, sig_ref));
}

Test(oom_core, signatures)
{
    static char body_url[256];
    unsigned char digest[SHA256_DIGEST_LENGTH];
    int w;

    need_openssl();
    form_build();
    cr_assert_eq(form_parse(&form_ref, form_text, form_len), 0);
    cr_assert_eq(sig_compute(TOKEN, URL, &form_ref, sig_ref), 0);
    cr_assert_eq(sig_validate(TOKEN, URL, &form_ref, sig_ref), 0);
    oom_drive("sig_validate", run_sig_validate, NULL, NULL);
    oom_drive("sig_key_new + sig_key_validate", run_sig_key, NULL, NULL);

    /* A JSON body: its SHA-256 in the URL, the signature over the URL alone. */
    cr_assert_not_null(SHA256((const unsigned char *)sig_body, sizeof(sig_body) - 1, digest));
    w = snprintf(body_url, sizeof(body_url), "https://voice.example.com/sim/api?bodySHA256=");
    for (size_t i = 0; i < sizeof(digest); i++)
        w += snprintf(body_url + w, sizeof(body_url) - (size_t)w, "%02x", digest[i]);
    cr_assert_eq(sig_compute(TOKEN, body_url, NULL, sig_ref), 0);
    cr_assert_eq(run_sig_body(body_url), 0);
    oom_drive("sig_validate_body", run_sig_body, body_url, NULL);
    form_release(&form_ref);
}

/* ---- stream tokens ---- */

static char token_ref[STREAM_TOKEN_SIZE];

static int run_stream_token(void *ctx)
{
    struct stream_token_key key;
    char token[STREAM_TOKEN_SIZE];
    int rc = stream_token_key_init(&key, "", TOKEN);

    if (rc == 0)
        rc = stream_token_for(&key, "CA00000000000000000000000000000001", token);
    if (rc == 0 && strcmp(token, token_ref) != 0)
        rc = OOM_WRONG;
    if (rc == 0)
        rc = not_bad(stream_token_check(&key, "CA00000000000000000000000000000001", token_ref));
    stream_token_key_clear(&key);
    return rc;
}

Test(oom_core, stream_token)
{
    struct stream_token_key key;

    need_openssl();
    cr_assert_eq(stream_token_key_init(&key, "", TOKEN), 0);
    cr_assert_eq(stream_token_for(&key, "CA00000000000000000000000000000001", token_ref), 0);
    stream_token_key_clear(&key);
    oom_drive("stream_token", run_stream_token, NULL, NULL);
}

/* ---- the logger ---- */

static FILE *log_sink;
static char log_ref[2048];

static const char *log_line(void)
{
    static char got[2048];

    log_event(LOG_INFO, "call.gather",
              "call_sid=%s speech=%s lang=%s confidence=%.2f note=\"%s\" n=%zu",
              "CA00000000000000000000000000000001", "¿Cuál es el horario? ¡Gracias!", "es-MX", 0.91,
              "línea\ncon \"comillas\"", (size_t)42);
    ssize_t n = pread(fileno(log_sink), got, sizeof(got) - 1, 0);

    got[n > 0 ? n : 0] = '\0';
    cr_assert_eq(ftruncate(fileno(log_sink), 0), 0);
    cr_assert_eq(lseek(fileno(log_sink), 0, SEEK_SET), 0);
    return got;
}

static int run_log(void *ctx)
{
    const char *tail = strstr(log_line(), " level=");

    return tail && strcmp(tail, log_ref) == 0 ? 0 : OOM_WRONG;
}

Test(oom_core, log_formatter_allocates_nothing)
{
    struct oom_report rep;
    const char *line;

    log_sink = tmpfile();
    cr_assert_not_null(log_sink);
    log_set_fd(fileno(log_sink));
    line = log_line();
    cr_assert(strstr(line, "speech=\"¿Cuál es el horario? ¡Gracias!\""), "%s", line);
    snprintf(log_ref, sizeof(log_ref), "%s", line);
    /* The timestamp may tick between two lines; compare from the level on. */
    memmove(log_ref, strstr(log_ref, " level="), strlen(strstr(log_ref, " level=")) + 1);
    oom_drive("log_event", run_log, NULL, &rep);
    cr_assert_eq(rep.allocs, 0, "the logger allocated %ld times", rep.allocs);
    log_set_fd(2);
    fclose(log_sink);
}
