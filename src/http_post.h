/*
 * A minimal HTTP/1.1 POST client over a plain TCP socket (no TLS, no
 * libcurl): enough to hand OTLP/JSON to a local or in-cluster collector.
 */
#ifndef KRT_HTTP_POST_H
#define KRT_HTTP_POST_H

#include <stddef.h>

struct krt_http_url {
	char host[256]; /* without brackets for IPv6 */
	char port[8];
	char path[512];
};

/* Parses "http://host[:port][/path]" (IPv6 as [addr]). 0 on success, -1 if unusable. */
int krt_http_parse_url(const char *url, struct krt_http_url *u);

/*
 * POSTs body to url and reads the status line. Returns the HTTP status
 * (any, 2xx is success) or -1 with the cause in err when no response
 * arrived. timeout_ms bounds connecting, sending and waiting for the reply.
 */
int krt_http_post(const char *url, const char *content_type, const void *body, size_t len,
		  int timeout_ms, char *err, size_t errlen);

#endif
