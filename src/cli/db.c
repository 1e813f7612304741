/*
 * switchboard db migrate | copy: the store's schema and moving a whole store
 * between engines (SQLite file and PostgreSQL, either way).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/err.h"
#include "store/copy.h"
#include "store/store.h"
#include "store/target.h"
#include "core/banned.h"

static const char db_usage[] =
    "usage: switchboard db migrate [--db DB]\n"
    "       switchboard db copy --src DB --dst DB\n"
    "\n"
    "DB is a SQLite file (a path, or sqlite:PATH) or a PostgreSQL URL\n"
    "(postgres://USER:PASSWORD@HOST:PORT/NAME or postgresql://...).\n"
    "migrate: applies the schema migrations the store lacks (serve and every\n"
    "  command apply them too when they open a store); prints the version.\n"
    "  Two at once are safe: one applies, the other waits and finds it done.\n"
    "copy: copies every table of --src into --dst, which must be empty (it is\n"
    "  migrated first), in one transaction, and checks each table's row count.\n"
    "  Stop the servers writing to --src first.\n"
    "  --db DB    the store (env SWITCHBOARD_DB, default ./switchboard.db)\n"
    "Exit status: 0 done, 1 refused or failed, 2 bad usage.\n";

static int db_migrate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    char shown[STORE_TARGET_DISPLAY_MAX];
    const char *db = NULL;
    struct store *s = NULL;
    long long version = 0;
    int c;
    int rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'd')
            return cli_usage("db migrate takes only --db");
        db = optarg;
    }
    if (optind < argc)
        return cli_usage("db migrate takes no arguments, got '%s'", argv[optind]);
    if (cli_open_store(&s, db))
        return 1;
    rc = store_schema_version(s, &version);
    store_close(s);
    if (rc)
        return cli_fail("cannot read the schema version: %s", sb_strerror(rc));
    printf("%s is at schema version %lld\n",
           store_target_display(cli_db_path(db), shown, sizeof(shown)), version);
    return 0;
}

static void table_done(void *arg, const char *table, long long src_rows, long long copied)
{
    printf("%-20s %8lld\n", table, copied);
}

static int db_copy(int argc, char **argv)
{
    static const struct option opts[] = {
        {"src", required_argument, NULL, 's'},
        {"dst", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    char src_shown[STORE_TARGET_DISPLAY_MAX];
    char dst_shown[STORE_TARGET_DISPLAY_MAX];
    const char *src_db = NULL;
    const char *dst_db = NULL;
    const char *nonempty = NULL;
    struct store *src = NULL;
    struct store *dst = NULL;
    struct copy_progress progress = {table_done, NULL};
    int c;
    int rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 's')
            src_db = optarg;
        else if (c == 'd')
            dst_db = optarg;
        else
            return cli_usage("db copy takes --src and --dst");
    }
    if (optind < argc)
        return cli_usage("db copy takes no arguments, got '%s'", argv[optind]);
    if (!src_db || !*src_db || !dst_db || !*dst_db)
        return cli_usage("db copy needs --src DB and --dst DB");
    store_target_display(src_db, src_shown, sizeof(src_shown));
    store_target_display(dst_db, dst_shown, sizeof(dst_shown));
    if (strcmp(src_db, dst_db) == 0)
        return cli_usage("db copy: --src and --dst are the same store '%s'", src_shown);
    if (cli_open_store(&src, src_db))
        return 1;
    if (cli_open_store(&dst, dst_db)) {
        store_close(src);
        return 1;
    }
    rc = store_copy(src, dst, &progress, &nonempty);
    store_close(dst);
    store_close(src);
    if (rc == SB_EEXISTS)
        return cli_fail("the destination '%s' is not empty: table %s has rows", dst_shown,
                        nonempty);
    if (rc)
        return cli_fail("cannot copy '%s' to '%s': %s (nothing was written)", src_shown, dst_shown,
                        sb_strerror(rc));
    printf("copied %s to %s\n", src_shown, dst_shown);
    return 0;
}

int cli_db(int argc, char **argv)
{
    if (argc < 2 || cli_wants_help(argc, argv)) {
        fputs(db_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "migrate") == 0)
        return db_migrate(argc - 1, argv + 1);
    if (strcmp(argv[1], "copy") == 0)
        return db_copy(argc - 1, argv + 1);
    return cli_usage("unknown db command '%s' (migrate, copy)", argv[1]);
}
