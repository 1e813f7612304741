#include "server/outbound_route.h"

#include <stdio.h>
#include <string.h>

#include "store/jobs.h"
#include "voice/outbound.h"
#include "server/server_internal.h"
#include "core/banned.h"

const struct tenant *routes_tenant_named(const struct routes *routes, const char *name)
{
    for (size_t i = 0; i < routes->ntenants; i++) {
        if (strcmp(routes->tenants[i].name, name) == 0)
            return &routes->tenants[i];
    }
    return NULL;
}

int job_route_init(struct job_route *jr, const struct routes *routes, const char *to,
                   const char *from, const char *flow, const char *agent, const char *lang)
{
    const struct route *r = from ? routes_find(routes, from) : NULL;

    if (!to || !r || !r->tenant || !r->number.active)
        return SB_ENOTFOUND;
    memset(jr, 0, sizeof(*jr));
    jr->tenant = *r->tenant;
    if (lang && *lang)
        snprintf(jr->tenant.default_lang, sizeof(jr->tenant.default_lang), "%s", lang);
    jr->route.number = r->number;
    snprintf(jr->route.number.e164, sizeof(jr->route.number.e164), "%s", to);
    if (flow)
        snprintf(jr->route.number.flow, sizeof(jr->route.number.flow), "%s", flow);
    if (agent)
        snprintf(jr->route.number.agent, sizeof(jr->route.number.agent), "%s", agent);
    jr->route.tenant = &jr->tenant;
    jr->routes.items = &jr->route;
    jr->routes.count = 1;
    jr->routes.tenants = &jr->tenant;
    jr->routes.ntenants = 1;
    jr->routes.version = routes->version;
    return 0;
}

int outbound_route_of_call(struct server *srv, const struct form *form, struct job_route *jr)
{
    const char *direction = form_get(form, "Direction");
    const char *to = form_get(form, "To");
    const char *from = form_get(form, "From");
    const char *sid = form_get(form, "CallSid");
    const struct route *mine = from ? routes_find(&srv->routing->routes, from) : NULL;
    const char *agent = NULL, *lang = NULL;
    struct job job;

    if (!direction || strncmp(direction, "outbound", 8) != 0 || !to ||
        routes_find(&srv->routing->routes, to) || !mine || !mine->tenant)
        return 0;
    /* One indexed read, as a flow step's state: the job decides the agent and the language. */
    if (sid && *sid && job_get_by_call(srv->store, sid, &job) == 0 &&
        strcmp(job.tenant, mine->tenant->name) == 0) {
        if (job.kind == JOB_KIND_AGENT)
            agent = job.target;
        lang = outbound_job_lang(&job, mine->tenant);
    }
    return job_route_init(jr, &srv->routing->routes, to, from, NULL, agent, lang) == 0;
}
