/*
 * podwire's native TCP splice engine for the userspace proxy (N-API addon, loaded by nativetcp.ts).
 *
 * Why: on Node's TCP handles every proxied connection still entered JavaScript six times (accept, connect, two
 * reads, two EOFs), each through MakeCallback with its async-hooks/tick/microtask checkpoint — ~60-70 us of user
 * CPU per connection against haproxy's ~20 us. Here the whole per-connection work runs as C callbacks on libuv
 * handles of Node's own event loop (napi_get_uv_event_loop; single-threaded, no locks), and JavaScript is entered
 * once per connection: the load balancer's pick (a plain napi_call_function, no callback scope).
 *
 * Behaviour is tcp.ts's (the specification): kube-proxy's dial (up to N attempts with per-attempt timeouts, the
 * next endpoint with affinity reset after a failure), the client read only once the backend is connected, copy
 * both ways with back-pressure (a write the kernel does not take at once is queued and its source not read until
 * it completes: at most one read, <= 64 KiB, buffered per direction), half-close forwarded (shutdown(2) after the
 * queued data; deferred by one batch of events as in tcp.ts), both sockets closed when both directions are done or
 * on error/reset.
 *
 * Lifetimes: a portal lives while JavaScript holds its external, a listener is open, or a connection uses it. A
 * connection lives until every handle it owns (client, each backend attempt) has had its close callback and it
 * left the FIN queue; uv_close runs pending request callbacks (ECANCELED) before the close callback, so requests
 * never outlive their connection. After the environment's cleanup hook no N-API call is made.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_BUF (64 * 1024)
#define MAX_TIMEOUTS 8
#define TICK_MS 25

typedef struct engine engine_t;
typedef struct portal portal_t;
typedef struct conn conn_t;

struct engine {
  napi_env env;
  uv_loop_t *loop;
  int dead; /* environment torn down: no N-API calls, no JavaScript */
  int fin_defer;
  int merge_fin;
  uv_timer_t timer; /* dial timeouts of every portal (runs only while a dial is pending) */
  int timer_on;
  conn_t *dial_head, *dial_tail;
  uv_idle_t idle; /* runs deferred FINs; active only while some are queued */
  int idle_on;
  conn_t *fin_now, *fin_next;
  portal_t *portals; /* every portal not yet freed (cleanup hook) */
  char rbuf[READ_BUF]; /* one read buffer for all sockets: each read is written (or copied) before the next */
};

typedef struct listener {
  uv_tcp_t tcp;
  portal_t *portal;
} listener_t;

enum { CNT_ACCEPTED, CNT_ACTIVE, CNT_BYTES_IN, CNT_BYTES_OUT, CNT_DIAL_FAIL, CNT_NO_EP, CNT_N };

struct portal {
  engine_t *eng;
  portal_t *prev, *next; /* engine's list */
  int refs;              /* JS external + open listener + live connections */
  napi_ref pick;         /* pick(resetAffinity, clientIP?) -> "ip:port" | null | true (= call again with the IP) */
  int want_ip;           /* the service has used ClientIP affinity: fetch the peer address before picking */
  int ntimeouts;
  uint32_t timeouts[MAX_TIMEOUTS];
  listener_t *listener;
  conn_t *conns; /* live (not yet released) connections */
  double cnt[CNT_N];
};

typedef struct backend {
  uv_tcp_t tcp;
  uv_connect_t creq;
  conn_t *conn;
  int abandoned; /* closed or replaced: its callbacks are ignored */
} backend_t;

typedef struct pwrite {
  uv_write_t req;
  conn_t *conn;
  int side; /* destination: 0 client, 1 backend */
  char data[];
} pwrite_t;

struct conn {
  uv_tcp_t client;
  backend_t *backend; /* current attempt, NULL when none */
  portal_t *portal;
  conn_t *prev, *next;   /* portal's list (live only) */
  conn_t *dprev, *dnext; /* engine's dial list */
  conn_t *fnext;         /* engine's FIN queue */
  uint64_t deadline;
  int attempt;
  int refs; /* handles not yet closed + FIN queue membership */
  unsigned closed : 1, dialing : 1, fin_queued : 1, answered : 1;
  /* per side (0 client, 1 backend): FIN read from it, a write to it queued, FIN to it due after that write,
   * FIN to it deferred, FIN sent to it */
  unsigned char eof[2], queued[2], fin_after_write[2], fin_deferred[2], shut[2];
};

static void release(conn_t *c);
static void dial(conn_t *c, int reset);

/* ---------- lifetimes ---------- */

static void portal_unref(portal_t *p) {
  if (--p->refs > 0) return;
  engine_t *e = p->eng;
  if (p->prev) p->prev->next = p->next;
  else e->portals = p->next;
  if (p->next) p->next->prev = p->prev;
  if (!e->dead && p->pick) napi_delete_reference(e->env, p->pick);
  free(p);
}

static void conn_unref(conn_t *c) {
  if (--c->refs > 0) return;
  portal_unref(c->portal);
  free(c);
}

static void on_client_closed(uv_handle_t *h) { conn_unref((conn_t *)h->data); }

static void on_backend_closed(uv_handle_t *h) {
  backend_t *b = h->data;
  conn_t *c = b->conn;
  free(b);
  conn_unref(c);
}

static void on_listener_closed(uv_handle_t *h) {
  listener_t *l = h->data;
  portal_t *p = l->portal;
  free(l);
  portal_unref(p);
}

static uv_stream_t *side_stream(conn_t *c, int side) {
  if (side == 0) return (uv_stream_t *)&c->client;
  return c->backend ? (uv_stream_t *)&c->backend->tcp : NULL;
}

/* ---------- dial timeouts: one coarse timer ---------- */

static void dial_remove(conn_t *c) {
  if (!c->dialing) return;
  engine_t *e = c->portal->eng;
  if (c->dprev) c->dprev->dnext = c->dnext;
  else e->dial_head = c->dnext;
  if (c->dnext) c->dnext->dprev = c->dprev;
  else e->dial_tail = c->dprev;
  c->dprev = c->dnext = NULL;
  c->dialing = 0;
}

static void dial_failed(conn_t *c);

static void on_tick(uv_timer_t *t) {
  engine_t *e = t->data;
  uint64_t now = uv_now(e->loop);
  conn_t *c = e->dial_head;
  while (c) {
    conn_t *next = c->dnext; /* dial_failed removes c and may append it again (with a later deadline) */
    if (c->deadline <= now) dial_failed(c);
    c = next;
  }
  if (!e->dial_head && e->timer_on) {
    uv_timer_stop(&e->timer);
    e->timer_on = 0;
  }
}

static void dial_add(conn_t *c, uint32_t ms) {
  engine_t *e = c->portal->eng;
  c->deadline = uv_now(e->loop) + ms;
  c->dprev = e->dial_tail;
  c->dnext = NULL;
  if (e->dial_tail) e->dial_tail->dnext = c;
  else e->dial_head = c;
  e->dial_tail = c;
  c->dialing = 1;
  if (!e->timer_on) {
    uv_timer_start(&e->timer, on_tick, TICK_MS, TICK_MS);
    e->timer_on = 1;
  }
}

/* ---------- the load balancer (the one JavaScript call per connection) ---------- */

static int parse_endpoint(const char *s, size_t n, struct sockaddr_storage *out) {
  char host[64];
  const char *colon = NULL;
  for (size_t i = n; i > 0; i--)
    if (s[i - 1] == ':') {
      colon = s + i - 1;
      break;
    }
  if (!colon) return -1;
  size_t hl = (size_t)(colon - s);
  const char *h = s;
  if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
    h++;
    hl -= 2;
  }
  if (hl == 0 || hl >= sizeof host) return -1;
  memcpy(host, h, hl);
  host[hl] = 0;
  long port = 0;
  const char *q = colon + 1;
  if (q >= s + n) return -1;
  for (; q < s + n; q++) {
    if (*q < '0' || *q > '9') return -1;
    port = port * 10 + (*q - '0');
    if (port > 65535) return -1;
  }
  if (memchr(host, ':', hl)) return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out);
  return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out);
}

/* The client's IP as the load balancer keys affinity (IPv4-mapped prefix stripped, as clientIPOf). */
static int peer_ip(conn_t *c, char *buf, size_t len) {
  struct sockaddr_storage ss;
  int sl = sizeof ss;
  if (uv_tcp_getpeername(&c->client, (struct sockaddr *)&ss, &sl) != 0) return -1;
  if (ss.ss_family == AF_INET) return uv_ip4_name((struct sockaddr_in *)&ss, buf, len);
  if (uv_ip6_name((struct sockaddr_in6 *)&ss, buf, len) != 0) return -1;
  if (strncmp(buf, "::ffff:", 7) == 0 && strchr(buf + 7, '.')) memmove(buf, buf + 7, strlen(buf + 7) + 1);
  return 0;
}

/* 0 and *out set: an endpoint; -1: none (no endpoint, a throwing or bad answer). */
static int pick(conn_t *c, int reset, struct sockaddr_storage *out) {
  portal_t *p = c->portal;
  engine_t *e = p->eng;
  if (e->dead || !p->pick) return -1;
  napi_env env = e->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return -1;
  int rc = -1;
  napi_value fn, recv, argv[2], result;
  napi_get_reference_value(env, p->pick, &fn);
  napi_get_undefined(env, &recv);
  napi_get_boolean(env, reset, &argv[0]);
  napi_get_undefined(env, &argv[1]);
  for (int round = 0; round < 2; round++) {
    if (p->want_ip) {
      char ip[64];
      if (peer_ip(c, ip, sizeof ip) == 0) napi_create_string_utf8(env, ip, NAPI_AUTO_LENGTH, &argv[1]);
      else napi_get_null(env, &argv[1]);
    }
    if (!fn || napi_call_function(env, recv, fn, 2, argv, &result) != napi_ok) {
      bool pending = false;
      napi_is_exception_pending(env, &pending);
      if (pending) {
        napi_value ex;
        napi_get_and_clear_last_exception(env, &ex);
      }
      break;
    }
    napi_valuetype t;
    napi_typeof(env, result, &t);
    if (t == napi_string) {
      char s[96];
      size_t n = 0;
      if (napi_get_value_string_utf8(env, result, s, sizeof s, &n) == napi_ok && n < sizeof s - 1)
        rc = parse_endpoint(s, n, out) == 0 ? 0 : -1;
      break;
    }
    if (t == napi_boolean && !p->want_ip) {
      p->want_ip = 1; /* affinity: from now on the peer address goes with every pick of this portal */
      continue;
    }
    break;
  }
  napi_close_handle_scope(env, scope);
  return rc;
}

/* ---------- splice ---------- */

static void on_alloc_client(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  buf->base = ((conn_t *)h->data)->portal->eng->rbuf;
  buf->len = READ_BUF;
}

static void on_alloc_backend(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  buf->base = ((backend_t *)h->data)->conn->portal->eng->rbuf;
  buf->len = READ_BUF;
}

static void on_read_client(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void on_read_backend(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static int read_start(conn_t *c, int side) {
  uv_stream_t *s = side_stream(c, side);
  if (!s) return -1;
  return side == 0 ? uv_read_start(s, on_alloc_client, on_read_client) : uv_read_start(s, on_alloc_backend, on_read_backend);
}

/* Both FINs read and nothing queued either way: close both (close(2) sends each side our FIN). */
static int check_done(conn_t *c) {
  if (c->eof[0] && c->eof[1] && !c->queued[0] && !c->queued[1]) {
    release(c);
    return 1;
  }
  return 0;
}

static void send_fin(conn_t *c, int d) {
  if (c->closed || c->shut[d]) return;
  if (c->queued[d]) {
    c->fin_after_write[d] = 1; /* after the queued data */
    return;
  }
  uv_stream_t *s = side_stream(c, d);
  uv_os_fd_t fd;
  if (!s || uv_fileno((uv_handle_t *)s, &fd) != 0 || shutdown(fd, SHUT_WR) != 0) {
    release(c);
    return;
  }
  c->shut[d] = 1;
}

static void on_write(uv_write_t *req, int status) {
  pwrite_t *w = (pwrite_t *)req;
  conn_t *c = w->conn;
  int d = w->side, s = 1 - d;
  free(w);
  c->queued[d] = 0;
  if (c->closed) return;
  if (status < 0) {
    release(c);
    return;
  }
  if (check_done(c)) return;
  if (c->fin_after_write[d]) {
    c->fin_after_write[d] = 0;
    send_fin(c, d);
    if (c->closed) return;
  }
  if (!c->eof[s] && read_start(c, s) != 0) release(c);
}

/*
 * The backend's first answer, when its FIN is already in too (a request/response server that closes): the data
 * and our FIN go to the client in one segment (send(MSG_MORE), then shutdown(2)), as haproxy does, and the
 * backend's EOF is taken from here instead of one more wake-up and read(2). 1: done; 0: not the case (or only
 * part written: *w bytes went out, the rest takes the ordinary path).
 */
static int answer_with_fin(conn_t *c, char *data, size_t n, int *w) {
  uv_os_fd_t bfd, cfd;
  char ch;
  *w = 0;
  if (uv_fileno((uv_handle_t *)&c->backend->tcp, &bfd) != 0 || uv_fileno((uv_handle_t *)&c->client, &cfd) != 0)
    return 0;
  if (recv(bfd, &ch, 1, MSG_PEEK | MSG_DONTWAIT) != 0) return 0; /* more data, nothing yet, or an error */
  ssize_t r = send(cfd, data, n, MSG_MORE | MSG_DONTWAIT | MSG_NOSIGNAL);
  if (r < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) release(c);
    return c->closed;
  }
  if ((size_t)r < n) {
    *w = (int)r;
    return 0;
  }
  uv_read_stop((uv_stream_t *)&c->backend->tcp); /* its EOF is known: libuv need not read it */
  c->eof[1] = 1;
  if (check_done(c)) return 1;   /* the client's FIN was in already: close(2) sends data and FIN */
  if (shutdown(cfd, SHUT_WR) != 0) /* flushes the data with the FIN */
    release(c);
  else
    c->shut[0] = 1;
  return 1;
}

static void forward(conn_t *c, int s, char *data, size_t n) {
  int d = 1 - s;
  uv_stream_t *dst = side_stream(c, d);
  if (!dst) {
    release(c);
    return;
  }
  c->portal->cnt[s == 0 ? CNT_BYTES_IN : CNT_BYTES_OUT] += (double)n;
  if (s == 1 && !c->answered) {
    c->answered = 1;
    int sent = 0;
    if (n < READ_BUF && c->portal->eng->merge_fin && answer_with_fin(c, data, n, &sent)) return;
    if (c->closed) return;
    data += sent;
    n -= (size_t)sent;
  }
  uv_buf_t b = uv_buf_init(data, (unsigned)n);
  int w = uv_try_write(dst, &b, 1);
  if (w == (int)n) return;
  if (w < 0 && w != UV_EAGAIN) {
    release(c);
    return;
  }
  if (w < 0) w = 0;
  /* The kernel buffer is full: keep the rest until the write completes and stop reading the source. */
  size_t rest = n - (size_t)w;
  pwrite_t *pw = malloc(sizeof *pw + rest);
  if (!pw) {
    release(c);
    return;
  }
  memcpy(pw->data, data + w, rest);
  pw->conn = c;
  pw->side = d;
  uv_buf_t b2 = uv_buf_init(pw->data, (unsigned)rest);
  if (uv_write(&pw->req, dst, &b2, 1, on_write) != 0) {
    free(pw);
    release(c);
    return;
  }
  c->queued[d] = 1;
  uv_read_stop(side_stream(c, s));
}

static void on_idle(uv_idle_t *h);

static void fin_queue(conn_t *c) {
  engine_t *e = c->portal->eng;
  if (c->fin_queued) return;
  c->fin_queued = 1;
  c->refs++;
  c->fnext = e->fin_next;
  e->fin_next = c;
  if (!e->idle_on) {
    uv_idle_start(&e->idle, on_idle);
    e->idle_on = 1;
  }
}

static void on_eof(conn_t *c, int s) {
  c->eof[s] = 1;
  if (check_done(c)) return;
  int d = 1 - s;
  if (c->portal->eng->fin_defer) {
    /* Typically the backend's answer ends with its FIN, the client reads it and closes, and its FIN is here
     * within the next batch: then both are simply closed, without a shutdown(2). */
    c->fin_deferred[d] = 1;
    fin_queue(c);
  } else {
    send_fin(c, d);
  }
}

static void on_read(conn_t *c, int s, ssize_t n, const uv_buf_t *buf) {
  if (c->closed) return;
  if (n > 0) forward(c, s, buf->base, (size_t)n);
  else if (n == UV_EOF) on_eof(c, s);
  else if (n < 0) release(c); /* reset or error: cut both sides */
}

static void on_read_client(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) { on_read((conn_t *)s->data, 0, n, buf); }

static void on_read_backend(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  backend_t *b = s->data;
  if (b->abandoned) return;
  on_read(b->conn, 1, n, buf);
}

/* Deferred FINs: queued during a batch, sent after the current and the next batch of events. */
static void on_idle(uv_idle_t *h) {
  engine_t *e = h->data;
  conn_t *due = e->fin_now;
  e->fin_now = e->fin_next;
  e->fin_next = NULL;
  while (due) {
    conn_t *c = due;
    due = c->fnext;
    c->fnext = NULL;
    c->fin_queued = 0;
    for (int d = 0; d < 2; d++)
      if (c->fin_deferred[d]) {
        c->fin_deferred[d] = 0;
        send_fin(c, d);
      }
    conn_unref(c);
  }
  /* e->fin_now (what was queued during the last batch) waits for one more batch */
  if (!e->fin_now && !e->fin_next && e->idle_on) {
    uv_idle_stop(&e->idle);
    e->idle_on = 0;
  }
}

/* ---------- connections ---------- */

static void abandon_backend(conn_t *c) {
  backend_t *b = c->backend;
  if (!b) return;
  c->backend = NULL;
  b->abandoned = 1;
  uv_close((uv_handle_t *)&b->tcp, on_backend_closed); /* a pending connect completes with ECANCELED first */
}

/* Closes both sockets (a clean close after both FINs, else the kernel resets what is unread). */
static void release(conn_t *c) {
  if (c->closed) return;
  c->closed = 1;
  portal_t *p = c->portal;
  dial_remove(c);
  if (c->prev) c->prev->next = c->next;
  else p->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = NULL;
  p->cnt[CNT_ACTIVE]--;
  abandon_backend(c);
  uv_close((uv_handle_t *)&c->client, on_client_closed);
}

/* The current dial attempt failed (refused, error or timed out): next endpoint, affinity ignored. */
static void dial_failed(conn_t *c) {
  if (c->closed) return;
  dial_remove(c);
  abandon_backend(c);
  c->portal->cnt[CNT_DIAL_FAIL]++;
  c->attempt++;
  dial(c, 1); /* after a failed dial, do not send the client back to the endpoint that just failed */
}

static void on_connect(uv_connect_t *req, int status) {
  backend_t *b = req->data;
  if (b->abandoned) return; /* timed out or closed meanwhile */
  conn_t *c = b->conn;
  if (status < 0) {
    dial_failed(c); /* refused: next endpoint at once */
    return;
  }
  dial_remove(c);
  /* the client is read only now: nothing is read into memory before the backend is up */
  if (read_start(c, 0) != 0) release(c);
}

static void dial(conn_t *c, int reset) {
  portal_t *p = c->portal;
  uv_loop_t *loop = p->eng->loop;
  for (;;) {
    if (c->closed) return;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (c->attempt >= p->ntimeouts || pick(c, reset, &ss) != 0) {
      p->cnt[CNT_NO_EP]++;
      release(c);
      return;
    }
    if (c->closed) return;
    backend_t *b = calloc(1, sizeof *b);
    if (!b) {
      release(c);
      return;
    }
    if (uv_tcp_init(loop, &b->tcp) != 0) {
      free(b);
      release(c);
      return;
    }
    b->tcp.data = b;
    b->creq.data = b;
    b->conn = c;
    c->refs++;
    c->backend = b;
    uv_tcp_nodelay(&b->tcp, 1); /* no fd yet: libuv applies it when connect() creates the socket */
    if (uv_tcp_connect(&b->creq, &b->tcp, (struct sockaddr *)&ss, on_connect) == 0) {
      /* reading armed with the connect: one epoll registration for both; libuv reports the connect first */
      uv_read_start((uv_stream_t *)&b->tcp, on_alloc_backend, on_read_backend);
      dial_add(c, p->timeouts[c->attempt]);
      return;
    }
    abandon_backend(c); /* failed at once (e.g. no route): next endpoint */
    p->cnt[CNT_DIAL_FAIL]++;
    c->attempt++;
    reset = 1;
  }
}

static void on_connection(uv_stream_t *server, int status) {
  listener_t *l = server->data;
  portal_t *p = l->portal;
  if (status < 0) return; /* accept failed (EMFILE: libuv dropped the connection); keep listening */
  conn_t *c = calloc(1, sizeof *c);
  if (!c) return;
  c->portal = p;
  p->refs++;
  c->refs = 1;
  uv_tcp_init(p->eng->loop, &c->client);
  c->client.data = c;
  if (uv_accept(server, (uv_stream_t *)&c->client) != 0) {
    c->closed = 1;
    uv_close((uv_handle_t *)&c->client, on_client_closed);
    return;
  }
  /* TCP_NODELAY is inherited from the listener: no setsockopt(2) per connection */
  c->next = p->conns;
  if (p->conns) p->conns->prev = c;
  p->conns = c;
  p->cnt[CNT_ACCEPTED]++;
  p->cnt[CNT_ACTIVE]++;
  dial(c, 0);
}

/* ---------- the environment going away ---------- */

static void on_engine_handle_closed(uv_handle_t *h) { (void)h; }

static void cleanup_hook(void *arg) {
  engine_t *e = arg;
  e->dead = 1;
  for (portal_t *p = e->portals; p; p = p->next) p->refs++; /* keep the list walkable while closing */
  for (portal_t *p = e->portals; p; p = p->next) {
    while (p->conns) release(p->conns);
    if (p->listener) {
      uv_close((uv_handle_t *)&p->listener->tcp, on_listener_closed);
      p->listener = NULL;
    }
  }
  for (portal_t *p = e->portals, *next; p; p = next) {
    next = p->next;
    portal_unref(p);
  }
  if (e->timer_on) uv_timer_stop(&e->timer);
  if (e->idle_on) uv_idle_stop(&e->idle);
  /* the engine (with these two handles) is deliberately not freed: the loop may still hold them */
  uv_close((uv_handle_t *)&e->timer, on_engine_handle_closed);
  uv_close((uv_handle_t *)&e->idle, on_engine_handle_closed);
}

/* ---------- N-API surface ---------- */

static engine_t *engine_of(napi_env env) {
  void *d = NULL;
  napi_get_instance_data(env, &d);
  return d;
}

static portal_t *portal_arg(napi_env env, napi_value v) {
  void *d = NULL;
  if (napi_get_value_external(env, v, &d) != napi_ok) return NULL;
  return d;
}

static napi_value num(napi_env env, double x) {
  napi_value v;
  napi_create_double(env, x, &v);
  return v;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

static void portal_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  portal_unref((portal_t *)data);
}

/* create(pick, timeoutsMs[]) -> external */
static napi_value js_create(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  engine_t *e = engine_of(env);
  napi_valuetype t;
  if (argc < 2 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_function)
    return throw_type(env, "create(pick, timeouts)");
  bool isArr = false;
  napi_is_array(env, argv[1], &isArr);
  uint32_t n = 0;
  if (isArr) napi_get_array_length(env, argv[1], &n);
  if (!isArr || n == 0 || n > MAX_TIMEOUTS) return throw_type(env, "timeouts: 1-8 numbers");
  portal_t *p = calloc(1, sizeof *p);
  if (!p) return throw_type(env, "out of memory");
  p->eng = e;
  p->ntimeouts = (int)n;
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    double ms = 0;
    napi_get_element(env, argv[1], i, &v);
    napi_get_value_double(env, v, &ms);
    p->timeouts[i] = ms < 1 ? 1 : (uint32_t)ms;
  }
  napi_create_reference(env, argv[0], 1, &p->pick);
  p->refs = 1; /* the external */
  p->next = e->portals;
  if (e->portals) e->portals->prev = p;
  e->portals = p;
  napi_value ext;
  if (napi_create_external(env, p, portal_finalize, NULL, &ext) != napi_ok) {
    portal_unref(p);
    return throw_type(env, "cannot create portal");
  }
  return ext;
}

static int start_listener(portal_t *p, listener_t *l, int backlog) {
  int r = uv_listen((uv_stream_t *)&l->tcp, backlog, on_connection);
  if (r != 0) return r;
  /* accepted sockets inherit TCP_NODELAY from the listener: one setsockopt(2) here, none per connection */
  uv_tcp_nodelay(&l->tcp, 1);
  p->listener = l;
  return 0;
}

static listener_t *new_listener(portal_t *p) {
  listener_t *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  uv_tcp_init(p->eng->loop, &l->tcp);
  l->tcp.data = l;
  l->portal = p;
  p->refs++;
  return l;
}

/* listen(portal, host, port, backlog) -> bound port, or a negative errno */
static napi_value js_listen(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  portal_t *p = argc == 4 ? portal_arg(env, argv[0]) : NULL;
  if (!p) return throw_type(env, "listen(portal, host, port, backlog)");
  if (p->listener) return num(env, UV_EALREADY);
  char host[64];
  size_t hl = 0;
  int32_t port = 0, backlog = 511;
  if (napi_get_value_string_utf8(env, argv[1], host, sizeof host, &hl) != napi_ok) return throw_type(env, "host");
  napi_get_value_int32(env, argv[2], &port);
  napi_get_value_int32(env, argv[3], &backlog);
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  int r = strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss)
                            : uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
  if (r != 0) return num(env, r);
  listener_t *l = new_listener(p);
  if (!l) return num(env, UV_ENOMEM);
  r = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0);
  if (r == 0) r = start_listener(p, l, backlog); /* libuv reports EADDRINUSE from listen() */
  if (r != 0) {
    uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
    return num(env, r);
  }
  struct sockaddr_storage bound;
  int bl = sizeof bound;
  uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&bound, &bl);
  int bport = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                          : ntohs(((struct sockaddr_in *)&bound)->sin_port);
  return num(env, bport);
}

/* listenFd(portal, fd, backlog) -> 0 or a negative errno: accepts on a duplicate of a listening socket's fd */
static napi_value js_listen_fd(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  portal_t *p = argc == 3 ? portal_arg(env, argv[0]) : NULL;
  if (!p) return throw_type(env, "listenFd(portal, fd, backlog)");
  if (p->listener) return num(env, UV_EALREADY);
  int32_t fd = -1, backlog = 511;
  napi_get_value_int32(env, argv[1], &fd);
  napi_get_value_int32(env, argv[2], &backlog);
  if (fd < 0) return num(env, UV_EBADF);
  int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return num(env, -errno);
  listener_t *l = new_listener(p);
  if (!l) {
    close(dup);
    return num(env, UV_ENOMEM);
  }
  int r = uv_tcp_open(&l->tcp, dup);
  if (r != 0) close(dup);
  else r = start_listener(p, l, backlog); /* listen(2) again: same socket, this backlog */
  if (r != 0) {
    uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
    return num(env, r);
  }
  return num(env, 0);
}

/* dupFd(portal) -> a new descriptor of the listening socket (for a Node handle to share), or a negative errno */
static napi_value js_dup_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  portal_t *p = argc == 1 ? portal_arg(env, argv[0]) : NULL;
  if (!p) return throw_type(env, "dupFd(portal)");
  uv_os_fd_t fd;
  if (!p->listener || uv_fileno((uv_handle_t *)&p->listener->tcp, &fd) != 0) return num(env, UV_EBADF);
  int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  return num(env, dup < 0 ? -errno : dup);
}

/* stopListening(portal): closes this process's descriptor; established connections stay */
static napi_value js_stop_listening(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  portal_t *p = argc == 1 ? portal_arg(env, argv[0]) : NULL;
  if (!p) return throw_type(env, "stopListening(portal)");
  if (p->listener) {
    uv_close((uv_handle_t *)&p->listener->tcp, on_listener_closed);
    p->listener = NULL;
  }
  return NULL;
}

/* destroy(portal): closes every proxied connection */
static napi_value js_destroy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  portal_t *p = argc == 1 ? portal_arg(env, argv[0]) : NULL;
  if (!p) return throw_type(env, "destroy(portal)");
  while (p->conns) release(p->conns);
  return NULL;
}

/* stats(portal, Float64Array(6)): accepted, active, bytes in, bytes out, dial failures, no endpoint */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  portal_t *p = argc == 2 ? portal_arg(env, argv[0]) : NULL;
  if (!p) return throw_type(env, "stats(portal, out)");
  napi_typedarray_type tt;
  size_t len = 0;
  void *data = NULL;
  if (napi_get_typedarray_info(env, argv[1], &tt, &len, &data, NULL, NULL) != napi_ok || tt != napi_float64_array ||
      len < CNT_N)
    return throw_type(env, "stats: Float64Array(6)");
  memcpy(data, p->cnt, sizeof p->cnt);
  return NULL;
}

/* The boolean argument of a setter (true when absent or not a boolean). */
static bool bool_arg(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool on = true;
  if (argc == 1) napi_get_value_bool(env, argv[0], &on);
  return on;
}

/* setFinDefer(on): forward FINs after one more batch of events (default) or at once (comparisons) */
static napi_value js_set_fin_defer(napi_env env, napi_callback_info info) {
  engine_of(env)->fin_defer = bool_arg(env, info);
  return NULL;
}

/* setMergeFin(on): the backend's first answer and its FIN in one segment to the client (default) or not */
static napi_value js_set_merge_fin(napi_env env, napi_callback_info info) {
  engine_of(env)->merge_fin = bool_arg(env, info);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  engine_t *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->env = env;
  e->fin_defer = 1;
  e->merge_fin = 1;
  if (napi_get_uv_event_loop(env, &e->loop) != napi_ok) {
    free(e);
    return NULL;
  }
  uv_timer_init(e->loop, &e->timer);
  e->timer.data = e;
  uv_unref((uv_handle_t *)&e->timer); /* the listeners keep the process alive, not pending dials */
  uv_idle_init(e->loop, &e->idle);
  e->idle.data = e;
  uv_unref((uv_handle_t *)&e->idle);
  napi_set_instance_data(env, e, NULL, NULL);
  napi_add_env_cleanup_hook(env, cleanup_hook, e);
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {
      {"create", js_create},       {"listen", js_listen},           {"listenFd", js_listen_fd},
      {"dupFd", js_dup_fd},        {"stopListening", js_stop_listening}, {"destroy", js_destroy},
      {"stats", js_stats},         {"setFinDefer", js_set_fin_defer}, {"setMergeFin", js_set_merge_fin},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  return exports;
}

NAPI_MODULE(podwire_splice, init)
