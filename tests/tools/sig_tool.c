/*
 * sig-tool: exposes core/sig to the oracle tests, which compare it with the
 * official helper library.
 *
 *   sig-tool compute TOKEN URL [key=value ...]
 *   sig-tool compute-form TOKEN URL BODY
 *   sig-tool validate TOKEN URL SIGNATURE [key=value ...]
 *   sig-tool validate-body TOKEN URL SIGNATURE BODYFILE
 *
 * key=value arguments are taken literally (split at the first '='), so
 * values may hold any byte but NUL. compute-form instead decodes BODY as
 * application/x-www-form-urlencoded with form_parse, the way the server
 * reads a request. compute prints the signature; validate exits 0 when the
 * signature is valid and 1 when it is not. Usage and other errors exit 2.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/form.h"
#include "core/sig.h"

/* Bodies over this size are not something a webhook test needs. */
#define BODY_MAX (16u * 1024 * 1024)

static int usage(void)
{
    fputs("usage: sig-tool compute TOKEN URL [key=value ...]\n"
          "       sig-tool compute-form TOKEN URL BODY\n"
          "       sig-tool validate TOKEN URL SIGNATURE [key=value ...]\n"
          "       sig-tool validate-body TOKEN URL SIGNATURE BODYFILE\n",
          stderr);
    return 2;
}

/*
 * Builds a form from key=value arguments. The fields point into `argv`
 * (whose '=' bytes are overwritten with NULs); only f->fields is allocated.
 */
static int form_from_args(struct form *f, int argc, char **argv)
{
    int i;

    f->fields = NULL;
    f->count = 0;
    f->storage = NULL;
    if (argc == 0)
        return 0;
    f->fields = calloc((size_t)argc, sizeof(*f->fields));
    if (!f->fields)
        return SB_ENOMEM;
    for (i = 0; i < argc; i++) {
        char *eq = strchr(argv[i], '=');

        if (!eq) {
            fprintf(stderr, "error: parameter '%s' has no '='\n", argv[i]);
            return SB_EINVAL;
        }
        *eq = '\0';
        f->fields[i].key = argv[i];
        f->fields[i].value = eq + 1;
    }
    f->count = (size_t)argc;
    return 0;
}

static int read_file(const char *path, struct buf *b)
{
    char chunk[4096];
    size_t n;
    int rc = 0;
    FILE *fp = fopen(path, "rb");

    if (!fp)
        return SB_EIO;
    for (;;) {
        n = fread(chunk, 1, sizeof(chunk), fp);
        if (n == 0)
            break;
        rc = buf_append(b, chunk, n);
        if (rc)
            break;
    }
    if (!rc && ferror(fp))
        rc = SB_EIO;
    fclose(fp);
    return rc;
}

static int print_signature(const char *token, const char *url, const struct form *f)
{
    char sig[SIG_B64_SIZE];
    int rc = sig_compute(token, url, f, sig);

    if (rc) {
        fprintf(stderr, "error: cannot compute signature: %s\n", sb_strerror(rc));
        return 2;
    }
    printf("%s\n", sig);
    return 0;
}

/* Maps a validation result to the exit status: 0 valid, 1 invalid, 2 error. */
static int validation_status(int rc)
{
    if (rc == 0)
        return 0;
    if (rc == SB_EBADSIG)
        return 1;
    fprintf(stderr, "error: cannot validate: %s\n", sb_strerror(rc));
    return 2;
}

int main(int argc, char **argv)
{
    struct form f = FORM_INIT;
    struct buf body = BUF_INIT(BODY_MAX);
    const char *cmd;
    int status = 2, rc;

    if (argc < 4)
        return usage();
    cmd = argv[1];

    if (strcmp(cmd, "compute") == 0) {
        if (form_from_args(&f, argc - 4, argv + 4))
            goto out;
        status = print_signature(argv[2], argv[3], &f);
    } else if (strcmp(cmd, "compute-form") == 0) {
        if (argc != 5) {
            status = usage();
            goto out;
        }
        rc = form_parse(&f, argv[4], strlen(argv[4]));
        if (rc) {
            fprintf(stderr, "error: cannot parse form: %s\n", sb_strerror(rc));
            goto out;
        }
        status = print_signature(argv[2], argv[3], &f);
    } else if (strcmp(cmd, "validate") == 0) {
        if (argc < 5) {
            status = usage();
            goto out;
        }
        if (form_from_args(&f, argc - 5, argv + 5))
            goto out;
        status = validation_status(sig_validate(argv[2], argv[3], &f, argv[4]));
    } else if (strcmp(cmd, "validate-body") == 0) {
        if (argc != 6) {
            status = usage();
            goto out;
        }
        rc = read_file(argv[5], &body);
        if (rc) {
            fprintf(stderr, "error: cannot read body file '%s': %s\n", argv[5], sb_strerror(rc));
            goto out;
        }
        status =
            validation_status(sig_validate_body(argv[2], argv[3], body.data, body.len, argv[4]));
    } else {
        status = usage();
    }
out:
    /* A form built from arguments owns only its field array, which form_release also frees. */
    form_release(&f);
    buf_release(&body);
    return status;
}
