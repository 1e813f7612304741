#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/e164.h"
#include "core/err.h"
#include "core/banned.h"

static const char numbers_usage[] =
    "usage: switchboard numbers add E164 --tenant NAME [--plan starter|pro|enterprise|relay]\n"
    "                               [--agent TYPE] [--inactive]\n"
    "       switchboard numbers list [--json]\n"
    "       switchboard numbers set-flow E164 FLOW   (FLOW '-' goes back to the plan's default)\n"
    "       switchboard numbers remove E164\n"
    "\n"
    "  --tenant NAME   the business this number belongs to (required)\n"
    "  --plan PLAN     starter: speech gather loop; pro, enterprise: media stream;\n"
    "                  relay: Twilio ConversationRelay (default starter)\n"
    "  --agent TYPE    the agent that answers, e.g. receptionist (default receptionist)\n"
    "  --inactive      keep the number but answer it with the 'not configured' apology\n"
    "  --flow FLOW     answer with the tenant's IVR flow FLOW (see 'switchboard flows')\n"
    "  --db PATH       the store (env SWITCHBOARD_DB, default ./switchboard.db)\n";

static int numbers_add(int argc, char **argv)
{
    static const struct option opts[] = {
        {"tenant", required_argument, NULL, 't'},
        {"plan", required_argument, NULL, 'p'},
        {"agent", required_argument, NULL, 'a'},
        {"inactive", no_argument, NULL, 'i'},
        {"db", required_argument, NULL, 'd'},
        {"flow", required_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    struct number n;
    struct store *s = NULL;
    const char *db = NULL;
    int c, rc;

    memset(&n, 0, sizeof(n));
    n.plan = PLAN_STARTER;
    n.active = 1;
    snprintf(n.agent, sizeof(n.agent), "receptionist");
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (strlen(optarg) == 0 || strlen(optarg) >= TENANT_NAME_SIZE)
                return cli_fail("tenant name '%s' is not valid", optarg);
            snprintf(n.tenant, sizeof(n.tenant), "%s", optarg);
            break;
        case 'p':
            if (plan_parse(optarg, &n.plan))
                return cli_fail("plan '%s' is not one of starter, pro, enterprise, relay", optarg);
            break;
        case 'a':
            if (strlen(optarg) == 0 || strlen(optarg) >= AGENT_SIZE)
                return cli_fail("agent '%s' must be 1-%d characters", optarg, AGENT_SIZE - 1);
            snprintf(n.agent, sizeof(n.agent), "%s", optarg);
            break;
        case 'i':
            n.active = 0;
            break;
        case 'f':
            if (strlen(optarg) == 0 || strlen(optarg) >= FLOW_REF_SIZE)
                return cli_fail("flow name '%s' must be 1-%d characters", optarg,
                                FLOW_REF_SIZE - 1);
            snprintf(n.flow, sizeof(n.flow), "%s", optarg);
            break;
        case 'd':
            db = optarg;
            break;
        default:
            fputs(numbers_usage, stderr);
            return 2;
        }
    }
    if (optind != argc - 1)
        return cli_fail("numbers add needs exactly one E164 number");
    if (!e164_valid(argv[optind]))
        return cli_fail("number '%s' is not E.164 (e.g. +15005550006)", argv[optind]);
    if (!n.tenant[0])
        return cli_fail("numbers add needs --tenant NAME");
    snprintf(n.e164, sizeof(n.e164), "%s", argv[optind]);
    if (cli_open_store(&s, db))
        return 1;
    rc = store_number_add(s, &n);
    store_close(s);
    if (rc == SB_EEXISTS)
        return cli_fail("number '%s' already exists", n.e164);
    if (rc == SB_ENOTFOUND)
        return cli_fail("tenant '%s' does not exist", n.tenant);
    if (rc)
        return cli_fail("cannot add number '%s': %s", n.e164, sb_strerror(rc));
    printf("added number %s (tenant %s, plan %s, agent %s%s)\n", n.e164, n.tenant,
           plan_name(n.plan), n.agent, n.active ? "" : ", inactive");
    return 0;
}

static int numbers_set_flow(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    struct store *s = NULL;
    const char *db = NULL, *flow;
    char *json = NULL;
    struct number *list = NULL;
    size_t n = 0;
    int c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'd')
            return 2;
        db = optarg;
    }
    if (optind != argc - 2)
        return cli_fail("numbers set-flow needs E164 and FLOW ('-' for none)");
    flow = strcmp(argv[optind + 1], "-") == 0 ? "" : argv[optind + 1];
    if (cli_open_store(&s, db))
        return 1;
    /* The flow must exist for the number's tenant: a typo would route calls nowhere. */
    rc = store_number_list(s, &list, &n);
    for (size_t i = 0; rc == 0 && i < n && *flow; i++) {
        if (strcmp(list[i].e164, argv[optind]) == 0)
            rc = store_flow_get(s, list[i].tenant, flow, &json);
    }
    free(json);
    if (rc == SB_ENOTFOUND) {
        rc = cli_fail("the tenant of '%s' has no flow '%s' (import it first)", argv[optind], flow);
        goto out;
    }
    rc = rc ? rc : store_number_set_flow(s, argv[optind], flow);
    if (rc == SB_ENOTFOUND)
        rc = cli_fail("number '%s' does not exist", argv[optind]);
    else if (rc)
        rc = cli_fail("cannot set the flow of '%s': %s", argv[optind], sb_strerror(rc));
    else
        printf("number %s now answers with %s\n", argv[optind], *flow ? flow : "its plan");
out:
    free(list);
    store_close(s);
    return rc;
}

static int numbers_list(struct store *s, int as_json)
{
    struct number *list = NULL;
    size_t n = 0;
    int rc = store_number_list(s, &list, &n);

    if (rc)
        return cli_fail("cannot list numbers: %s", sb_strerror(rc));
    if (as_json) {
        json_t *arr = json_array();

        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:b, s:s*}", "number",
                                                 list[i].e164, "tenant", list[i].tenant, "plan",
                                                 plan_name(list[i].plan), "agent", list[i].agent,
                                                 "active", list[i].active, "flow",
                                                 list[i].flow[0] ? list[i].flow : NULL));
        json_dumpf(arr, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        json_decref(arr);
    } else {
        printf("%-17s %-24s %-11s %-16s %-7s %s\n", "NUMBER", "TENANT", "PLAN", "AGENT", "ACTIVE",
               "FLOW");
        for (size_t i = 0; i < n; i++)
            printf("%-17s %-24s %-11s %-16s %-7s %s\n", list[i].e164, list[i].tenant,
                   plan_name(list[i].plan), list[i].agent, list[i].active ? "yes" : "no",
                   list[i].flow[0] ? list[i].flow : "-");
    }
    free(list);
    return 0;
}

int cli_numbers(int argc, char **argv)
{
    static const struct cli_collection col = {"number", "E164", "calls", numbers_list,
                                              store_number_remove};

    if (cli_wants_help(argc, argv)) {
        fputs(numbers_usage, stdout);
        return 0;
    }
    if (argc < 2) {
        fputs(numbers_usage, stderr);
        return 2;
    }
    if (strcmp(argv[1], "add") == 0)
        return numbers_add(argc - 1, argv + 1);
    if (strcmp(argv[1], "set-flow") == 0)
        return numbers_set_flow(argc - 1, argv + 1);
    if (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "remove") != 0)
        return cli_fail("unknown numbers command '%s' (add, list, set-flow, remove)", argv[1]);
    return cli_collection(&col, argc - 1, argv + 1);
}
