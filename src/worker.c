/*
 * worker: set-up, drain and tear-down of one event loop's context.
 */
#include "snid/worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "snid/conn.h"
#include "snid/listener.h"
#include "snid/log.h"
#include "snid/resolver.h"

static void
worker_drain_timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct worker	*w = t->data;

	(void)revents;
	log_info("shutdown: -shutdown-timeout reached, closing %zu connection(s)",
	    w->n_conns);
	conn_close_all(w, OUTCOME_SHUTDOWN);
	ev_break(loop, EVBREAK_ALL);
}

int
worker_init(struct worker *w, struct ev_loop *loop, const struct config *cfg)
{
	memset(w, 0, sizeof(*w));
	w->loop = loop;
	w->cfg = cfg;
	pipe_pool_init(&w->pipes, PIPE_POOL_MAX);
	listener_throttle_init(w);
	ev_timer_init(&w->drain_timer, worker_drain_timeout_cb,
	    cfg->shutdown_timeout > 0 ? cfg->shutdown_timeout : 0., 0.);
	w->drain_timer.data = w;
	worker_set_limits(w);
	w->resolver = resolver_new(w);
	if (w->resolver == NULL) {
		pipe_pool_destroy(&w->pipes);
		return -1;
	}
	return 0;
}

/* Descriptors kept out of the connection budget: listeners, DNS, logs, metrics. */
#define WORKER_FD_RESERVE	64

/*
 * Each connection holds two sockets, and up to four pipe ends while data
 * moves both ways.  Budgeting three descriptors per connection leaves room
 * for pipes on a third of them at once; past that, the pump falls back to
 * copying (see pump.c) instead of failing, so the budget is about memory
 * and fairness, not correctness.
 */
void
worker_set_limits(struct worker *w)
{
	struct rlimit	rl;
	size_t		n = 1024;

	if (w->cfg->max_connections != 0) {
		w->accept.max_conns = w->cfg->max_connections;
		return;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		n = (size_t)rl.rlim_cur;
	else if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		n = 1 << 20;
	w->accept.max_conns = n > WORKER_FD_RESERVE + 3 ?
	    (n - WORKER_FD_RESERVE) / 3 : 1;
}

void
worker_destroy(struct worker *w)
{
	conn_close_all(w, OUTCOME_SHUTDOWN);
	if (w->listeners != NULL)
		listener_close_all(w);
	ev_timer_stop(w->loop, &w->drain_timer);
	/* After the conns: every lookup is detached, so no callback reaches a conn. */
	resolver_free(w->resolver);
	w->resolver = NULL;
	pipe_pool_destroy(&w->pipes);
	dial_self_clear(&w->self);
}

void
worker_self_refresh(struct worker *w)
{
	dial_self_clear(&w->self);
	for (size_t i = 0; i < w->n_listeners; i++)
		if (w->listeners[i].fd != -1 &&
		    dial_self_add_fd(&w->self, w->listeners[i].fd) == -1)
			log_warn("listener %s: getsockname: %s",
			    w->listeners[i].text, strerror(errno));
	if (dial_self_load_host(&w->self) == -1)
		log_warn("getifaddrs: %s: only the loopback addresses count as "
		    "snid's own for wildcard listeners", strerror(errno));
}

void
worker_drain(struct worker *w)
{
	if (w->draining)
		return;
	w->draining = true;
	if (w->listeners != NULL)
		listener_close_all(w);
	if (w->n_conns == 0) {
		log_info("shutdown: no connection open");
		ev_break(w->loop, EVBREAK_ALL);
		return;
	}
	log_info("shutdown: listeners closed, waiting up to %.3g s for %zu "
	    "connection(s)", w->cfg->shutdown_timeout, w->n_conns);
	/* Set now, not at init: a reload may have changed -shutdown-timeout. */
	ev_timer_set(&w->drain_timer, w->cfg->shutdown_timeout > 0 ?
	    w->cfg->shutdown_timeout : 0., 0.);
	ev_timer_start(w->loop, &w->drain_timer);
}

void
worker_conn_closed(struct worker *w)
{
	if (w->draining && w->n_conns == 0) {
		/* Not when the drain timer itself is closing the rest. */
		if (ev_is_active(&w->drain_timer)) {
			ev_timer_stop(w->loop, &w->drain_timer);
			log_info("shutdown: every connection finished");
		}
		ev_break(w->loop, EVBREAK_ALL);
	}
}

/* cfg in config-file syntax, one setting per line (config_print). */
static char *
worker_config_text(const struct config *cfg)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	config_print(cfg, f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Whether text holds the whole line [line, line + len) ("key value"). */
static bool
worker_has_line(const char *text, const char *line, size_t len)
{
	const char	*p = text;

	while (*p != '\0') {
		const char	*e = strchr(p, '\n');
		size_t		 n = e != NULL ? (size_t)(e - p) : strlen(p);

		if (n == len && memcmp(p, line, len) == 0)
			return true;
		if (e == NULL)
			break;
		p = e + 1;
	}
	return false;
}

/*
 * Warn once per setting (the first word of a line) that is in a but not in
 * b: a setting the file changed but that the running snid keeps.  Returns
 * how many were named.
 */
static int
worker_warn_kept(const char *a, const char *b, char *seen, size_t seenlen)
{
	const char	*p = a;
	int		 n = 0;

	while (*p != '\0') {
		const char	*e = strchr(p, '\n');
		size_t		 len = e != NULL ? (size_t)(e - p) : strlen(p);
		size_t		 klen = strcspn(p, " \n");
		char		 key[64];

		if (p[0] != '#' && !worker_has_line(b, p, len)) {
			snprintf(key, sizeof(key), " %.*s ", (int)klen, p);
			if (strstr(seen, key) == NULL) {
				if (strcmp(key, " listen ") == 0)
					log_warn("reload: listener changes need a "
					    "restart; still listening as before");
				else
					log_warn("reload: %.*s changed: needs a "
					    "restart; keeping the running value",
					    (int)klen, p);
				/* Remember it ("seen" holds " key " words). */
				if (strlen(seen) + strlen(key) < seenlen)
					strcat(seen, key);
				n++;
			}
		}
		if (e == NULL)
			break;
		p = e + 1;
	}
	return n;
}

int
worker_reload(struct worker *w, const struct config *next, struct config *out)
{
	const struct config	*cur = w->cfg;
	char			*want, *have, err[512], seen[512] = "";

	/*
	 * Start from the running configuration and take over only what can
	 * change under running connections; everything else (listeners,
	 * mode, user, nat46 prefix, unix directory, proxy-proto, metrics) is
	 * bound to sockets or privileges opened at start-up.
	 */
	memcpy(out, cur, sizeof(*out));
	memcpy(out->backend_cidrs, next->backend_cidrs,
	    sizeof(out->backend_cidrs));
	out->n_backend_cidrs = next->n_backend_cidrs;
	out->backend_port = next->backend_port;
	memcpy(out->default_hostname, next->default_hostname,
	    sizeof(out->default_hostname));
	memcpy(out->dns_servers, next->dns_servers, sizeof(out->dns_servers));
	memcpy(out->dns_server_lens, next->dns_server_lens,
	    sizeof(out->dns_server_lens));
	out->n_dns_servers = next->n_dns_servers;
	out->hello_timeout = next->hello_timeout;
	out->connect_timeout = next->connect_timeout;
	out->dns_timeout = next->dns_timeout;
	out->shutdown_timeout = next->shutdown_timeout;
	out->idle_timeout = next->idle_timeout;
	out->half_close_timeout = next->half_close_timeout;
	out->max_connections = next->max_connections;
	out->log_level = next->log_level;

	/* The combination must be valid by itself (e.g. a mode change it does not follow). */
	if (config_validate(out, err, sizeof(err)) == -1) {
		log_error("reload: rejected, the new settings do not fit the "
		    "running ones (a restart would apply them): %s", err);
		return -1;
	}
	if (listener_check(out) == -1) {
		log_error("reload: rejected, see the line above");
		return -1;
	}
	/* An open listener without a port (unix:, or fd: of a unix socket) has no default. */
	for (size_t i = 0; i < w->n_listeners; i++)
		if (out->mode != MODE_UNIX && out->backend_port == 0 &&
		    w->listeners[i].port == 0) {
			log_error("reload: rejected: listener %s has no port to "
			    "use as the backend port: keep -backend-port",
			    w->listeners[i].text);
			return -1;
		}
	want = worker_config_text(next);
	have = worker_config_text(out);
	if (want != NULL && have != NULL) {
		(void)worker_warn_kept(want, have, seen, sizeof(seen));
		(void)worker_warn_kept(have, want, seen, sizeof(seen));
	}
	free(want);
	free(have);

	if (resolver_reconfigure(&w->resolver, out) == -1) {
		log_error("reload: rejected, the resolver could not be set up "
		    "with the new DNS settings");
		return -1;
	}
	if (out->log_level != cur->log_level)
		log_init(2, out->log_level);
	/* The host's addresses may have changed since start-up. */
	worker_self_refresh(w);
	/*
	 * The switch.  No module keeps a pointer into the configuration
	 * across callbacks (see worker.h), so from the next decision on every
	 * connection reads the new one, and the caller may free cur.
	 */
	w->cfg = out;
	worker_set_limits(w);
	return 0;
}
