#include "media/event_internal.h"
#include "buf.h"
