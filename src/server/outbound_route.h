/*
 * Routing the webhooks of a call switchboard placed for a job. Inbound
 * calls are routed by To, the tenant's number; on an outbound call To is
 * the person called, so the call is routed by job instead: a routing table
 * of one entry maps the person's number onto the tenant's number the call
 * was placed from, with the job's agent (or flow) and language. The
 * handlers downstream (the flow engine, Gather turns, the Connect actions)
 * then route it as they route any call, by To.
 *
 * Runs on the event loop thread. A struct job_route is the caller's (on
 * its stack); it copies what it needs and points at nothing it does not own
 * after return, except the server's tenant list through `routes`' version.
 */
#ifndef SB_SERVER_OUTBOUND_ROUTE_H
#define SB_SERVER_OUTBOUND_ROUTE_H

#include "core/err.h"
#include "core/form.h"
#include "store/routes.h"

struct server;

struct job_route {
    struct routes routes; /* one route and one tenant, both below */
    struct route route;
    struct tenant tenant;
};

/**
 * Routes `to` (the person called) as the tenant's number `from`: the
 * number's plan and settings, with `flow` and `agent` replacing the
 * number's when not NULL, and `lang` (when not NULL or empty) as the
 * tenant's default language. Returns 0, or SB_ENOTFOUND when `from` is no
 * active number of ours.
 */
SB_MUST_CHECK int job_route_init(struct job_route *jr, const struct routes *routes, const char *to,
                                 const char *from, const char *flow, const char *agent,
                                 const char *lang);

/**
 * For a webhook of an outbound call (Direction outbound-*, a To that is
 * none of ours, a From that is): fills `jr` with the route of the job that
 * placed the call (found by its CallSid: the job's agent and language), or
 * of the From number alone when no job has the call. Returns 1 when `jr`
 * is filled, 0 when the webhook is not one of an outbound call.
 */
int outbound_route_of_call(struct server *srv, const struct form *form, struct job_route *jr);

/** The tenant named `name` in the routing table, or NULL. */
const struct tenant *routes_tenant_named(const struct routes *routes, const char *name);

#endif
