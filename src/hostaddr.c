/*
 * hostaddr: the host's interface addresses, with or without netlink (see
 * hostaddr.h for why both).
 */
#include "snid/hostaddr.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Interfaces SIOCGIFCONF reports at most (each one struct ifreq). */
#define HOSTADDR_MAX_IFS	1024

int
hostaddr_getifaddrs(hostaddr_cb *cb, void *arg)
{
	struct ifaddrs	*ifa, *i;

	if (getifaddrs(&ifa) == -1)
		return -1;
	for (i = ifa; i != NULL; i = i->ifa_next)
		if (i->ifa_addr != NULL && (i->ifa_addr->sa_family == AF_INET ||
		    i->ifa_addr->sa_family == AF_INET6))
			cb(arg, i->ifa_addr);
	freeifaddrs(ifa);
	return 0;
}

static int
hostaddr_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool
hostaddr_parse_inet6(const char *line, struct sockaddr_in6 *out)
{
	memset(out, 0, sizeof(*out));
	out->sin6_family = AF_INET6;
	for (int i = 0; i < 16; i++) {
		int	hi = hostaddr_hexval(line[2 * i]);
		int	lo = hi == -1 ? -1 : hostaddr_hexval(line[2 * i + 1]);

		if (lo == -1)
			return false;
		out->sin6_addr.s6_addr[i] = (uint8_t)(hi << 4 | lo);
	}
	/* The address is followed by the interface index and more fields. */
	return line[32] == ' ';
}

/* IPv6: /proc/self/net/if_inet6, one address per line. */
static int
hostaddr_proc_inet6(hostaddr_cb *cb, void *arg)
{
	FILE			*f;
	char			 line[256];
	struct sockaddr_in6	 s6;

	f = fopen("/proc/self/net/if_inet6", "re");
	if (f == NULL)
		return errno == ENOENT ? 0 : -1;	/* ENOENT: no IPv6 */
	while (fgets(line, sizeof(line), f) != NULL)
		if (hostaddr_parse_inet6(line, &s6))
			cb(arg, (const struct sockaddr *)&s6);
	fclose(f);
	return 0;
}

/* IPv4: SIOCGIFCONF, which lists each configured address with its label. */
static int
hostaddr_ioctl_inet(hostaddr_cb *cb, void *arg)
{
	struct ifconf	 ifc;
	struct ifreq	*ifr;
	int		 fd, rc = -1, saved;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	ifr = calloc(HOSTADDR_MAX_IFS, sizeof(*ifr));
	if (ifr == NULL)
		goto out;
	ifc.ifc_len = (int)(HOSTADDR_MAX_IFS * sizeof(*ifr));
	ifc.ifc_req = ifr;
	if (ioctl(fd, SIOCGIFCONF, &ifc) == -1)
		goto out;
	for (size_t i = 0; i < (size_t)ifc.ifc_len / sizeof(*ifr); i++)
		if (ifr[i].ifr_addr.sa_family == AF_INET)
			cb(arg, &ifr[i].ifr_addr);
	rc = 0;
out:
	saved = errno;
	free(ifr);
	close(fd);
	errno = saved;
	return rc;
}

int
hostaddr_fallback(hostaddr_cb *cb, void *arg)
{
	int	v4 = hostaddr_ioctl_inet(cb, arg);
	int	v6 = hostaddr_proc_inet6(cb, arg);

	/* One family is better than none: errno is the last failure's. */
	return v4 == -1 && v6 == -1 ? -1 : 0;
}

int
hostaddr_each(hostaddr_cb *cb, void *arg)
{
	if (hostaddr_getifaddrs(cb, arg) == 0)
		return HOSTADDR_GETIFADDRS;
	if (hostaddr_fallback(cb, arg) == 0)
		return HOSTADDR_FALLBACK;
	return -1;
}
