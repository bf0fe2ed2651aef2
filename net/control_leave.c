/*
 * control_leave.c: the LEAVE request. The node hands every chunk it holds
 * for the network, and the pinned ones, to the nodes closest to them other
 * than itself, and stores its records again at the k closest to their keys
 * (tsn_node_leave), answers with what it handed on, and then asks its
 * process to stop (opts.on_leave): `tsn leave`.
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
	struct tsn_node_leave_res res;
	struct tsn_ctl_leave_result lr;
	int rc;

	(void)p, (void)len;
	if (c->srv->node == NULL)
		return ctl_send_err(c, ENOTCONN, "this process runs no node");
	if (c->srv->on_leave == NULL)
		return ctl_send_err(c, EOPNOTSUPP, "this process cannot be stopped by leave");
	tsn_log(TSN_LOG_INFO, "control: leave: handing on what this node holds");
	rc = tsn_node_leave(c->srv->node, 0, &res);
	if (rc != 0)
		return ctl_send_err(c, -rc, "leave failed: %s (the node keeps running)", strerror(-rc));
	tsn_log(TSN_LOG_INFO, "control: leave: %llu chunks handed on, %llu short of r copies, "
	        "%llu not placed; %llu records handed on, %llu not; stopping",
	        (unsigned long long)res.handed, (unsigned long long)res.short_,
	        (unsigned long long)res.failed, (unsigned long long)res.records_handed,
	        (unsigned long long)res.records_failed);
	memset(&lr, 0, sizeof(lr));
	lr.handed = res.handed;
	lr.short_ = res.short_;
	lr.failed = res.failed;
	lr.records_handed = res.records_handed;
	lr.records_failed = res.records_failed;
	rc = ctl_send(c, TSN_CTL_OK, out, tsn_ctl_leave_ok_encode(out, &lr, c->version));
	c->srv->on_leave(c->srv->leave_ud);
	return rc;
}
