/* Subcommands of the switchboard binary. Each returns the process exit status. */
#ifndef SB_CLI_CLI_H
#define SB_CLI_CLI_H

#include "store/store.h"

int cli_serve(int argc, char **argv);
int cli_tenants(int argc, char **argv);
int cli_numbers(int argc, char **argv);
int cli_calls(int argc, char **argv);
int cli_urls(int argc, char **argv);
int cli_flows(int argc, char **argv);
int cli_sim(int argc, char **argv);
/** switchboard sim api: the fake Twilio REST API (src/cli/sim_api.c). */
int cli_sim_api(int argc, char **argv);

/** Prints "error: ..." to stderr (lower-case, naming the thing) and returns 1. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Like cli_fail for bad usage (a flag or argument that cannot work): returns 2. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** The store path: --db, else SWITCHBOARD_DB, else ./switchboard.db. */
const char *cli_db_path(const char *flag);

/** Opens the store for a CLI command, printing the error. Returns 0 or 1. */
int cli_open_store(struct store **out, const char *flag);

/** True when argv[i] is --help or -h anywhere in argv. */
int cli_wants_help(int argc, char **argv);

#endif
