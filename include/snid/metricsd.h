/*
 * metricsd: the -metrics HTTP endpoint, served from main's loop; a scrape
 * sums the counters of every worker (workers_stats).
 * It answers GET /metrics with metrics_render's text and anything else with
 * 404 or 405, one request per connection.  Every step is non-blocking and
 * bounded (head size, time, number of clients), so a slow or hostile
 * scraper costs the proxy nothing but a few watchers.
 */
#ifndef SNID_METRICSD_H
#define SNID_METRICSD_H

#include <ev.h>

#include "snid/config.h"

struct metricsd;
struct shared;

/*
 * Open spec's listener (-metrics), if one is set, and serve the metrics of
 * sh's workers on loop; *dp is the endpoint, or NULL when off.  Returns 0
 * (also when -metrics is off), or -1 after logging why.
 */
int	metricsd_open(struct metricsd **dp, struct ev_loop *loop,
	    const struct listen_spec *spec, struct shared *sh);

/* Close the listener and every scrape connection; *dp becomes NULL.  Safe when never opened. */
void	metricsd_close(struct metricsd **dp);

#endif
