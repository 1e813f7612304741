#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/err.h"

int cli_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

int cli_usage(const char *fmt, ...)
{
    va_list ap;

    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

const char *cli_db_path(const char *flag)
{
    const char *env = getenv("SWITCHBOARD_DB");

    if (flag && *flag)
        return flag;
    if (env && *env)
        return env;
    return "./switchboard.db";
}

int cli_open_store(struct store **out, const char *flag)
{
    const char *path = cli_db_path(flag);
    int rc = store_open(out, path);

    if (rc)
        return cli_fail("cannot open store '%s': %s", path, sb_strerror(rc));
    return 0;
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    }
    return 0;
}
