/* cl.h - umbrella header of the caseloop common library. */
#ifndef CL_H
#define CL_H

#include "cl_err.h"
#include "cl_buf.h"
#include "cl_clock.h"
#include "cl_log.h"
#include "cl_config.h"
#include "cl_text.h"
#include "cl_codec.h"
#include "cl_db.h"
#include "cl_migrate.h"
#include "cl_bus.h"
#include "cl_eventlog.h"
#include "cl_service.h"
#include "cl_tz.h"
#include "cl_describe.h"
#include "cl_calendar.h"
#include "cl_policy.h"
#include "cl_policies.h"
#include "cl_timer.h"

#endif
