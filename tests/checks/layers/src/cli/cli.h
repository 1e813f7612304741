#include "server/server.h"
#include "gui/window.h"
