/* Subcommands of the switchboard binary. Each returns the process exit status. */
#ifndef SB_CLI_CLI_H
#define SB_CLI_CLI_H

#include <jansson.h>
#include <stddef.h>

#include "store/jobs.h"
#include "store/store.h"
#include "voice/call_check.h"

int cli_serve(int argc, char **argv);
int cli_tenants(int argc, char **argv);
int cli_numbers(int argc, char **argv);
int cli_calls(int argc, char **argv);
int cli_urls(int argc, char **argv);
int cli_flows(int argc, char **argv);
int cli_sim(int argc, char **argv);
/** switchboard sim api: the fake Twilio REST API (src/cli/sim_api.c). */
int cli_sim_api(int argc, char **argv);
/** switchboard sim llm: a local OpenAI-compatible chat server (src/cli/sim_llm.c). */
int cli_sim_llm(int argc, char **argv);
int cli_sim_providers(int argc, char **argv);
/** switchboard apikeys: the tenants' keys to the HTTP API (src/cli/apikeys.c). */
int cli_apikeys(int argc, char **argv);
int cli_db(int argc, char **argv);

/** Parses a whole number from lo to hi into *out. Returns 0, or -1 after printing the usage error.
 */
int cli_parse_num(const char *flag, const char *value, long lo, long hi, int *out);

/**
 * Splits --listen's "[HOST:]PORT" or "[::1]:PORT" into `host` (127.0.0.1 when
 * there is none) and *port. Returns 0, or -1 after printing the usage error.
 */
int cli_parse_listen(const char *value, char *host, size_t hostsize, int *port);

/* A loaded text file and its non-empty lines (borrowed from `text`); cli_lines_release frees. */
struct cli_lines {
    char *text;
    const char **line;
    size_t n;
};

/**
 * Loads the non-empty lines of a UTF-8 text file (at most 1 MiB, 10,000
 * lines; CRLF allowed) named by `flag`. Returns 0, or -1 with the reason
 * ("--transcripts 'F' has no line") in `err`.
 */
int cli_lines_load(const char *flag, const char *path, struct cli_lines *l, char *err,
                   size_t errsize);

void cli_lines_release(struct cli_lines *l);
/** switchboard agents: the tenants' LLM agents (src/cli/agents.c). */
int cli_agents(int argc, char **argv);
/** switchboard campaigns: calls imported from a CSV file together (src/cli/campaigns.c). */
int cli_campaigns(int argc, char **argv);

/*
 * Outbound calls from the command line (src/cli/calls_create.c).
 * cli_calls_outbound runs `calls create|jobs|job|hangup|redirect` with
 * argv[0] naming which.
 */
int cli_calls_outbound(int argc, char **argv);

/**
 * Sets r->kind, target and say_text from --flow, --agent and --say (NULL
 * when not given). Returns 0, or 2 after printing the usage error when not
 * exactly one is.
 */
int cli_call_target(const char *flow, const char *agent, const char *say, struct job_request *r);

/**
 * Prints a failed check of voice/call_check.h: returns 2 (usage) for a
 * field that cannot be read, else 1.
 */
int cli_call_refused(const struct call_check *chk);

/** Parses a positive id; returns 0, or 2 after printing the usage error naming `what`. */
int cli_parse_id(const char *what, const char *value, long long *out);

/** Prints `o` indented with a newline, and frees it. */
void cli_print_json(json_t *o);

/** Prints "error: ..." to stderr (lower-case, naming the thing) and returns 1. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Like cli_fail for bad usage (a flag or argument that cannot work): returns 2. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The list and remove subcommands every collection (tenants, numbers) shares. */
struct cli_collection {
    const char *noun;       /* "tenant" */
    const char *key;        /* what remove takes: "NAME" */
    const char *dependents; /* what blocks a remove (SB_EBUSY): "numbers" */
    int (*list)(struct store *s, int as_json);
    int (*remove)(struct store *s, const char *key);
};

/**
 * Runs "list [--json]" or "remove KEY" (argv[0] names which; --db anywhere),
 * with the messages every collection uses. Returns the exit status.
 */
int cli_collection(const struct cli_collection *col, int argc, char **argv);

/** The store path: --db, else SWITCHBOARD_DB, else ./switchboard.db. */
const char *cli_db_path(const char *flag);

/** Opens the store for a CLI command, printing the error. Returns 0 or 1. */
int cli_open_store(struct store **out, const char *flag);

/** True when argv[i] is --help or -h anywhere in argv. */
int cli_wants_help(int argc, char **argv);

/**
 * Reads the options --json (sets *as_json to 1) and --db PATH (sets *db,
 * borrowed from argv) with getopt_long from optind = 1. Returns 0 when every
 * option was one of them, or -1 at the first other option or a missing value
 * (optind is past it; getopt prints its message unless opterr is 0).
 */
int cli_json_db_options(int argc, char **argv, int *as_json, const char **db);

#endif
