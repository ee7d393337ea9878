/* What the MIB tapsets count, done once each over loopback: a TCP
 * connection made and accepted, then aborted by the client (SO_LINGER 0:
 * a reset), and a raw IPv4 packet of protocol 253, which nothing on the
 * host handles. Logs the ports to the file named by argv[1]. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int port_of(int fd) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  if (getsockname(fd, (struct sockaddr *)&a, &len)) return -1;
  return ntohs(a.sin_port);
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  FILE *log = fopen(argv[1], "w");
  if (!log) return 1;
  struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  if (ls < 0 || bind(ls, (struct sockaddr *)&lo, sizeof lo) || listen(ls, 4)) return 1;
  lo.sin_port = htons(port_of(ls));
  int c = socket(AF_INET, SOCK_STREAM, 0);
  if (c < 0 || connect(c, (struct sockaddr *)&lo, sizeof lo)) return 1;
  int s = accept(ls, NULL, NULL);
  if (s < 0) return 1;
  fprintf(log, "tcp %d %d\n", port_of(c), port_of(s));
  struct linger l = {.l_onoff = 1, .l_linger = 0};
  if (setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof l)) return 1;
  close(c);
  usleep(100000);
  close(s);
  close(ls);

  int r = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
  if (r < 0) return 1;
  unsigned char pkt[28] = {0};
  struct iphdr *ip = (struct iphdr *)pkt;
  ip->version = 4;
  ip->ihl = 5;
  ip->ttl = 64;
  ip->protocol = 253;
  ip->tot_len = htons(sizeof pkt);
  ip->saddr = htonl(INADDR_LOOPBACK);
  ip->daddr = htonl(INADDR_LOOPBACK);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (sendto(r, pkt, sizeof pkt, 0, (struct sockaddr *)&to, sizeof to) != sizeof pkt) return 1;
  fprintf(log, "raw 253\n");
  usleep(100000);
  fclose(log);
  return 0;
}
