/*
 * metricsd: the -metrics HTTP endpoint, served from the worker's own loop.
 * It answers GET /metrics with metrics_render's text and anything else with
 * 404 or 405, one request per connection.  Every step is non-blocking and
 * bounded (head size, time, number of clients), so a slow or hostile
 * scraper costs the proxy nothing but a few watchers.
 */
#ifndef SNID_METRICSD_H
#define SNID_METRICSD_H

struct worker;

/*
 * Open w->cfg's -metrics listener, if one is set, and start serving.
 * Returns 0 (also when -metrics is off), or -1 after logging why.
 */
int	metricsd_open(struct worker *w);

/* Close the listener and every scrape connection.  Safe when never opened. */
void	metricsd_close(struct worker *w);

#endif
