/* Routes the network's answers to the agents that asked (see agent_base in agent.h). */
#include "agent/agent.h"
#include "net/http_client.h"
#include "core/banned.h"

void agent_deliver(struct http_delivery *d)
{
    const struct agent_base *base = d ? d->arg : NULL;

    if (base && base->ops && base->ops->deliver)
        base->ops->deliver(d->arg, d);
    http_delivery_free(d);
}
