/*
** sdnotify.h — systemd's readiness protocol (sd_notify(3)) without
** libsystemd: one datagram to the socket named by $NOTIFY_SOCKET.  The
** Debian package's unit is Type=notify, so `systemctl start` returns once
** the port listens (READY=1) and says "stopping" during the polite close
** (STOPPING=1).  Outside systemd ($NOTIFY_SOCKET unset) it does nothing.
*/
#ifndef FSV_SDNOTIFY_H
#define FSV_SDNOTIFY_H

/* Send state (e.g. "READY=1\nSTATUS=serving").  1 sent, 0 no socket to
** send to, -1 the send failed (never fatal for the caller). */
int fsv_sd_notify(const char *state);

#endif /* FSV_SDNOTIFY_H */
