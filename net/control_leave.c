/*
 * control_leave.c: the LEAVE request. The node hands every chunk it holds
 * for the network, and the pinned ones, to the nodes closest to them other
 * than itself (tsn_node_leave), answers with what it handed on, and then
 * asks its process to stop (opts.on_leave): `tsn leave`.
 */
#include <errno.h>
#include <string.h>

#include "control_i.h"
#include "node.h"
#include "util.h"

int
ctl_do_leave(struct ctl_conn *c, const uint8_t *p, size_t len)
{
	uint8_t out[TSN_CTL_LEAVE_OK_LEN];
	uint64_t handed = 0, short_ = 0, failed = 0;
	int rc;

	(void)p, (void)len;
	if (c->srv->node == NULL)
		return ctl_send_err(c, ENOTCONN, "this process runs no node");
	if (c->srv->on_leave == NULL)
		return ctl_send_err(c, EOPNOTSUPP, "this process cannot be stopped by leave");
	tsn_log(TSN_LOG_INFO, "control: leave: handing on what this node holds");
	rc = tsn_node_leave(c->srv->node, 0, &handed, &short_, &failed);
	if (rc != 0)
		return ctl_send_err(c, -rc, "leave failed: %s (the node keeps running)", strerror(-rc));
	tsn_log(TSN_LOG_INFO, "control: leave: %llu chunks handed on, %llu short of r copies, "
	        "%llu not placed; stopping", (unsigned long long)handed,
	        (unsigned long long)short_, (unsigned long long)failed);
	tsn_put_be64(out, handed);
	tsn_put_be64(out + 8, short_);
	tsn_put_be64(out + 16, failed);
	rc = ctl_send(c, TSN_CTL_OK, out, sizeof(out));
	c->srv->on_leave(c->srv->leave_ud);
	return rc;
}
