/*
 * TCP_INFO's tcpi_bytes_received (Linux 4.1+) counts every byte the kernel
 * took in on the socket; SIOCINQ says how many of them the process has not
 * read yet. glibc's <netinet/tcp.h> lacks the counter, so the kernel's
 * header is used here, alone.
 */
#include "net/socket_bytes.h"

#include <linux/sockios.h>
#include <netinet/in.h>
#include <stddef.h>
#include <linux/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include "core/banned.h"

long long net_socket_bytes_read(int fd)
{
    struct tcp_info info = {0};
    socklen_t len = sizeof(info);
    int unread = 0;

    if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 ||
        len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(info.tcpi_bytes_received))
        return -1;
    if (ioctl(fd, SIOCINQ, &unread) != 0 || unread < 0)
        return -1;
    return (long long)info.tcpi_bytes_received - unread;
}
