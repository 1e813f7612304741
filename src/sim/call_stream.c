/* <Connect><Stream> and <Start><Stream> in a simulated call. */
#include <string.h>

#include "sim/call_internal.h"

void call_stream(struct call *c, const struct sim_node *stream, int bidirectional)
{
    json_t *ev = call_event(c, "stream");

    json_object_set_new(ev, "url", json_string(sim_node_attr(stream, "url") ? sim_node_attr(stream, "url") : ""));
    json_object_set_new(ev, "summary", json_string("not simulated yet"));
    (void)bidirectional;
}

void call_streams_finish(struct call *c)
{
    (void)c;
}
