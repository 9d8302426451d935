/*
 * lo_ifaddrs.c - LD_PRELOAD shim for the Janus benchmark baseline.
 *
 * Janus (and libnice) skip interfaces flagged IFF_LOOPBACK when gathering
 * ICE host candidates, so on a loopback-only benchmark box Janus would offer
 * no usable candidate. This shim wraps getifaddrs():
 *   - IPv4 entries in 127.0.0.0/8 lose the IFF_LOOPBACK flag, so they are
 *     gathered like an ordinary interface address;
 *   - when LO_IFADDRS_ONLY is set (non-empty, not "0"), every other entry is
 *     reported as down (IFF_UP/IFF_RUNNING cleared), so nothing but 127.x is
 *     ever gathered or used.
 * The list structure is left untouched, so the libc freeifaddrs() still works.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

typedef int (*getifaddrs_fn)(struct ifaddrs **);

static int is_ipv4_loopback(const struct ifaddrs *ifa)
{
    if (ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != AF_INET)
        return 0;
    const struct sockaddr_in *sin = (const struct sockaddr_in *)ifa->ifa_addr;
    return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
}

int getifaddrs(struct ifaddrs **out)
{
    static getifaddrs_fn real_fn = NULL;
    if (real_fn == NULL)
        real_fn = (getifaddrs_fn)dlsym(RTLD_NEXT, "getifaddrs");
    if (real_fn == NULL)
        return -1;

    int rc = real_fn(out);
    if (rc != 0 || out == NULL)
        return rc;

    const char *only = getenv("LO_IFADDRS_ONLY");
    int only_lo = only != NULL && only[0] != '\0' && !(only[0] == '0' && only[1] == '\0');

    for (struct ifaddrs *ifa = *out; ifa != NULL; ifa = ifa->ifa_next) {
        if (is_ipv4_loopback(ifa))
            ifa->ifa_flags &= ~(unsigned int)IFF_LOOPBACK;
        else if (only_lo)
            ifa->ifa_flags &= ~(unsigned int)(IFF_UP | IFF_RUNNING);
    }
    return rc;
}
