/*
 * podwire-cni, the executable a container runtime execs (built by scripts/build.mjs into dist/podwire-cni;
 * bin/podwire-cni links to it). A Node process costs ~20x a Go plugin's start, so this small C program does no
 * CNI work itself: when the network config names an "agentSocket" that accepts a connection, it forwards the
 * request (CNI_* env + stdin) to the overlay agent serving the plugin there (cni/plugin/server.ts) and prints the
 * reply; otherwise (no agent, stale socket, PODWIRE_CNI_NO_AGENT set) it execs the bundled Node plugin
 * dist/podwire-cni.mjs with the same stdin. The CNI contract is the plugin's: result or error JSON on stdout,
 * exit 0 / 1.
 *
 * Wire protocol: request = "CNI_COMMAND=…\n…\n--\n" + config, then a half-close; reply = "<exit code>\n" + stdout.
 *
 * `podwire-cni --netns-helper` is the agent's long-lived pod-side helper (cni/plugin/podside.ts): Node cannot
 * setns(2), so instead of spawning `nsenter ip -batch` per ADD (a fork of the agent + two execs), the agent keeps
 * this process and sends it one line per pod: it enters the pod's netns, brings the interface up, adds the address
 * and routes over rtnetlink, returns to its own netns and answers one line.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* Whole-request budget for the agent (a runtime has its own, usually longer, timeout). */
#define AGENT_TIMEOUT_S 120

static const char *const ENV_KEYS[] = {"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS",
                                       "CNI_IFNAME",  "CNI_ARGS",        "CNI_PATH"};

struct buf {
  char *p;
  size_t len, cap;
};

static int buf_add(struct buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
  return 0;
}

static int read_all(int fd, struct buf *b) {
  char tmp[16384];
  for (;;) {
    ssize_t n = read(fd, tmp, sizeof tmp);
    if (n == 0) return 0;
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (buf_add(b, tmp, (size_t)n)) return -1;
  }
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/*
 * The string value of the first "key": "…" in the JSON text (the plugin's own keys sit at the top level of its
 * config; a runtime does not put them anywhere else). Escapes other than \/ and \\ make it give up (returns 0):
 * the Node plugin then handles the request.
 */
static int json_string(const char *json, const char *key, char *out, size_t outsz) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\"", key);
  const char *s = strstr(json, pat);
  if (!s) return 0;
  s += strlen(pat);
  while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
  if (*s++ != ':') return 0;
  while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
  if (*s++ != '"') return 0;
  size_t n = 0;
  for (; *s && *s != '"'; s++) {
    char c = *s;
    if (c == '\\') {
      s++;
      if (*s != '/' && *s != '\\') return 0;
      c = *s;
    }
    if (n + 1 >= outsz) return 0;
    out[n++] = c;
  }
  if (*s != '"' || n == 0) return 0;
  out[n] = 0;
  return 1;
}

/* Runs the bundled Node plugin (dist/podwire-cni.mjs, next to this binary) with `in` as its stdin. */
static void run_node(const struct buf *in) {
  char self[PATH_MAX], script[PATH_MAX + 32];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) n = 0;
  self[n] = 0;
  char *slash = strrchr(self, '/');
  if (slash) *slash = 0;
  snprintf(script, sizeof script, "%s/podwire-cni.mjs", slash ? self : ".");
  /* Hand the already-read stdin over in an anonymous file: no writer process needed whatever its size. */
  int fd = memfd_create("podwire-cni-stdin", 0);
  if (fd >= 0 && write_all(fd, in->p ? in->p : "", in->len) == 0 && lseek(fd, 0, SEEK_SET) == 0) {
    dup2(fd, 0);
    close(fd);
  }
  char *argv[] = {"node", script, NULL};
  execvp("node", argv);
  const char *fallbacks[] = {"/usr/bin/node", "/usr/local/bin/node"};
  for (size_t i = 0; i < sizeof fallbacks / sizeof *fallbacks; i++) execv(fallbacks[i], argv);
  printf("{\"code\":999,\"msg\":\"podwire-cni: cannot exec node: %s\"}\n", strerror(errno));
  exit(1);
}

/* Connects to the agent's socket; -1 when nobody listens there (the caller falls back to Node). */
static int agent_connect(const char *path) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) return -1;
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    close(fd);
    return -1;
  }
  struct timeval tv = {.tv_sec = AGENT_TIMEOUT_S};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

/* An error the agent path itself produced (connection lost mid-request): the spec's error shape, "try again". */
static int agent_failed(const char *cni_version, const char *what) {
  if (cni_version[0] && strspn(cni_version, "0123456789.") == strlen(cni_version))
    printf("{\"cniVersion\":\"%s\",\"code\":11,\"msg\":\"podwire agent: %s; try again later\"}\n", cni_version, what);
  else
    printf("{\"code\":11,\"msg\":\"podwire agent: %s; try again later\"}\n", what);
  return 1;
}

/* ---- --netns-helper ------------------------------------------------------------------------------------------- */

struct nlreq {
  struct nlmsghdr h;
  union {
    struct ifinfomsg ifi;
    struct ifaddrmsg ifa;
    struct rtmsg rt;
  } u;
  char attrs[256];
};

static void nl_attr(struct nlreq *r, unsigned short type, const void *data, size_t len) {
  struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->h.nlmsg_len));
  a->rta_type = type;
  a->rta_len = (unsigned short)RTA_LENGTH(len);
  memcpy(RTA_DATA(a), data, len);
  r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

static unsigned int nl_seq;

/* Sends one request and waits for its ack; 0 or a positive errno. */
static int nl_talk(int fd, struct nlreq *r) {
  r->h.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  r->h.nlmsg_seq = ++nl_seq;
  if (send(fd, r, r->h.nlmsg_len, 0) < 0) return errno;
  char buf[8192];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned int)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != r->h.nlmsg_seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) return -((struct nlmsgerr *)NLMSG_DATA(h))->error;
    }
  }
}

/* "a.b.c.d/len" or "x::y/len" → family, bytes, prefix length. */
static int parse_prefix(const char *s, int *family, unsigned char addr[16], int *plen) {
  char tmp[64];
  snprintf(tmp, sizeof tmp, "%s", s);
  char *slash = strchr(tmp, '/');
  *family = strchr(tmp, ':') ? AF_INET6 : AF_INET;
  int max = *family == AF_INET6 ? 128 : 32;
  *plen = max;
  if (slash) {
    *slash = 0;
    char *end;
    long l = strtol(slash + 1, &end, 10);
    if (*end || l < 0 || l > max) return -1;
    *plen = (int)l;
  }
  return inet_pton(*family, tmp, addr) == 1 ? 0 : -1;
}

/*
 * One pod: "<netns path>\t<ifname>\t<addr/plen>[,<addr/plen>…]\t<dst>[ <gw>][,<dst>[ <gw>]…]".
 * Returns 0 or an errno; *what says which step failed.
 */
static int pod_setup(int home, char *line, char *what, size_t whatsz) {
  char *f[4] = {0};
  for (int i = 0; i < 4; i++) f[i] = strsep(&line, "\t");
  if (!f[0] || !f[1] || !f[2] || !f[3]) {
    snprintf(what, whatsz, "bad request");
    return EINVAL;
  }
  int ns = open(f[0], O_RDONLY | O_CLOEXEC);
  if (ns < 0) {
    snprintf(what, whatsz, "open netns %s", f[0]);
    return errno;
  }
  if (setns(ns, CLONE_NEWNET) < 0) {
    int e = errno;
    close(ns);
    snprintf(what, whatsz, "setns %s", f[0]);
    return e;
  }
  close(ns);
  int err = 0;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  unsigned int idx = fd < 0 ? 0 : if_nametoindex(f[1]);
  if (fd < 0 || !idx) {
    err = errno ? errno : ENODEV;
    snprintf(what, whatsz, "interface %s", f[1]);
    goto out;
  }
  struct nlreq r;
  memset(&r, 0, sizeof r);
  r.h.nlmsg_len = NLMSG_LENGTH(sizeof r.u.ifi);
  r.h.nlmsg_type = RTM_NEWLINK;
  r.u.ifi.ifi_index = (int)idx;
  r.u.ifi.ifi_flags = IFF_UP;
  r.u.ifi.ifi_change = IFF_UP;
  if ((err = nl_talk(fd, &r))) {
    snprintf(what, whatsz, "link set %s up", f[1]);
    goto out;
  }
  for (char *a = strtok(f[2], ","); a; a = strtok(NULL, ",")) {
    int fam, plen;
    unsigned char addr[16];
    if (parse_prefix(a, &fam, addr, &plen)) {
      err = EINVAL;
      snprintf(what, whatsz, "address %s", a);
      goto out;
    }
    memset(&r, 0, sizeof r);
    r.h.nlmsg_len = NLMSG_LENGTH(sizeof r.u.ifa);
    r.h.nlmsg_type = RTM_NEWADDR;
    r.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    r.u.ifa.ifa_family = (unsigned char)fam;
    r.u.ifa.ifa_prefixlen = (unsigned char)plen;
    r.u.ifa.ifa_index = idx;
    size_t alen = fam == AF_INET6 ? 16 : 4;
    nl_attr(&r, IFA_LOCAL, addr, alen);
    nl_attr(&r, IFA_ADDRESS, addr, alen);
    if (fam == AF_INET6) {
      unsigned int flags = IFA_F_NODAD; /* usable at once, as the reference plugins do (they wait for DAD) */
      nl_attr(&r, IFA_FLAGS, &flags, sizeof flags);
    }
    if ((err = nl_talk(fd, &r))) {
      snprintf(what, whatsz, "addr add %s dev %s", a, f[1]);
      goto out;
    }
  }
  for (char *rt = strtok(f[3], ","); rt; rt = strtok(NULL, ",")) {
    char *gw = strchr(rt, ' ');
    if (gw) *gw++ = 0;
    int fam, plen, gfam;
    unsigned char dst[16], via[16];
    if (parse_prefix(rt, &fam, dst, &plen) || (gw && (parse_prefix(gw, &gfam, via, &(int){0}) || gfam != fam))) {
      err = EINVAL;
      snprintf(what, whatsz, "route %s", rt);
      goto out;
    }
    memset(&r, 0, sizeof r);
    r.h.nlmsg_len = NLMSG_LENGTH(sizeof r.u.rt);
    r.h.nlmsg_type = RTM_NEWROUTE;
    r.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    r.u.rt.rtm_family = (unsigned char)fam;
    r.u.rt.rtm_dst_len = (unsigned char)plen;
    r.u.rt.rtm_table = RT_TABLE_MAIN;
    r.u.rt.rtm_protocol = RTPROT_BOOT;
    r.u.rt.rtm_scope = gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
    r.u.rt.rtm_type = RTN_UNICAST;
    size_t alen = fam == AF_INET6 ? 16 : 4;
    if (plen) nl_attr(&r, RTA_DST, dst, alen);
    if (gw) nl_attr(&r, RTA_GATEWAY, via, alen);
    nl_attr(&r, RTA_OIF, &idx, sizeof idx);
    if ((err = nl_talk(fd, &r))) {
      snprintf(what, whatsz, "route add %s%s%s dev %s", rt, gw ? " via " : "", gw ? gw : "", f[1]);
      goto out;
    }
  }
out:
  if (fd >= 0) close(fd);
  if (setns(home, CLONE_NEWNET) < 0) {
    /* Stuck in a pod's netns: no later request may run here. */
    printf("%d cannot return to the helper's netns: %s\n", errno, strerror(errno));
    fflush(stdout);
    exit(1);
  }
  return err;
}

/* Line in, line out ("0" or "<errno> <what>: <strerror>") until stdin closes. */
static int netns_helper(void) {
  int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) return 1;
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, stdin)) > 0) {
    if (line[n - 1] == '\n') line[n - 1] = 0;
    char what[512] = "";
    errno = 0;
    int err = pod_setup(home, line, what, sizeof what);
    if (err)
      printf("%d %s: %s\n", err, what, strerror(err));
    else
      printf("0\n");
    fflush(stdout);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--netns-helper") == 0) return netns_helper();
  struct buf in = {0};
  if (!isatty(0) && read_all(0, &in) < 0) in.len = 0;
  if (buf_add(&in, "", 0)) return 1;
  const char *no_agent = getenv("PODWIRE_CNI_NO_AGENT");
  char sock[256], version[32] = "";
  if ((no_agent && *no_agent) || !json_string(in.p, "agentSocket", sock, sizeof sock)) run_node(&in);
  struct buf req = {0};
  for (size_t i = 0; i < sizeof ENV_KEYS / sizeof *ENV_KEYS; i++) {
    const char *v = getenv(ENV_KEYS[i]);
    if (!v) v = "";
    if (strchr(v, '\n')) run_node(&in); /* not expressible in the line protocol */
    if (buf_add(&req, ENV_KEYS[i], strlen(ENV_KEYS[i])) || buf_add(&req, "=", 1) || buf_add(&req, v, strlen(v)) ||
        buf_add(&req, "\n", 1))
      return 1;
  }
  if (buf_add(&req, "--\n", 3) || buf_add(&req, in.p, in.len)) return 1;
  int fd = agent_connect(sock);
  if (fd < 0) run_node(&in);
  json_string(in.p, "cniVersion", version, sizeof version);
  signal(SIGPIPE, SIG_IGN); /* an agent gone mid-request is an error reply, not a silent death by signal */
  if (write_all(fd, req.p, req.len) < 0 || shutdown(fd, SHUT_WR) < 0)
    return agent_failed(version, "sending the request failed");
  struct buf resp = {0};
  if (read_all(fd, &resp) < 0) return agent_failed(version, "no reply in time");
  close(fd);
  char *nl = resp.p ? memchr(resp.p, '\n', resp.len) : NULL;
  if (!nl || nl == resp.p || resp.p[0] < '0' || resp.p[0] > '9')
    return agent_failed(version, "connection closed without a reply");
  int code = atoi(resp.p);
  size_t body = (size_t)(nl + 1 - resp.p);
  if (write_all(1, resp.p + body, resp.len - body) < 0) return 1;
  return code;
}
