/*
 * control_search.c: the SEARCH request of the control socket
 * (docs/control.md): RESULT frames as results arrive, then END.
 */
#include <errno.h>
#include <string.h>

#include "control_i.h"
#include "node.h"
#include "search.h"
#include "util.h"

#define SEARCH_TIMEOUT_MAX_MS 120000

struct sctx {
	struct ctl_conn *c;
	int rc;
};

static int
on_result(void *ud, const struct tsn_kw_entry *e)
{
	struct sctx *x = ud;
	uint8_t out[TSN_URI_STRLEN + TSN_CTL_NAME_MAX];
	size_t n = e != NULL ? tsn_ctl_result_encode(out, sizeof(out), &e->uri, e->name) : 0;

	if (e == NULL) /* heartbeat */
		return ctl_stopping(x->c->srv) ? -ECANCELED : 0;
	if (n == 0)
		return 0; /* a name over the limit: not shown */
	if (ctl_stopping(x->c->srv))
		x->rc = -ECANCELED;
	else
		x->rc = ctl_send(x->c, TSN_CTL_RESULT, out, n);
	return x->rc;
}

int
ctl_do_search(struct ctl_conn *c, const uint8_t *p, size_t len)
{
	struct sctx x = {.c = c};
	char query[TSN_CTL_QUERY_MAX + 1];
	uint32_t timeout;
	long n;

	if (tsn_ctl_search_decode(p, len, &timeout, query) != 0) {
		tsn_log(TSN_LOG_WARN, "control: connection %u: malformed SEARCH: closed", c->id);
		return -EBADMSG;
	}
	if (c->srv->node == NULL)
		return ctl_send_err(c, -ENOTCONN, "this process runs no node");
	if (timeout > SEARCH_TIMEOUT_MAX_MS)
		timeout = SEARCH_TIMEOUT_MAX_MS;
	n = tsn_search_run(c->srv->node, query, strlen(query), timeout, on_result, &x);
	if (x.rc != 0)
		return x.rc; /* the connection broke mid-answer */
	if (n == -EINVAL)
		return ctl_send_err(c, -EINVAL, "no word of 2 characters or more in the query");
	if (n < 0)
		return ctl_send_err(c, (int)n, "search: %s", strerror((int)-n));
	return ctl_send(c, TSN_CTL_END, NULL, 0);
}
