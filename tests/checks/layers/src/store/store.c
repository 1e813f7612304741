#include "core/buf.h"
#include "store/store.h"
#include "server/server.h"
