/* What a TCP socket has handed to the process so far, from the kernel's own counters. */
#ifndef SB_NET_SOCKET_BYTES_H
#define SB_NET_SOCKET_BYTES_H

/**
 * Bytes the application has read from the connected TCP socket `fd` since it
 * was opened: what the kernel received minus what still waits to be read.
 * Returns -1 when the kernel cannot tell (not a TCP socket, an old kernel).
 */
long long net_socket_bytes_read(int fd);

#endif
