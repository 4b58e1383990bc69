    /*
     * widget.parts: the transports (WebSocket, the SSE+POST fallback),
     * resume, the outbox, the backoff; and the start
     */

    /* ---- transports ---- */

    function hello() {
        var f = { type: 'hello', cid: (net.hello = cid()), lang: LANG,
                  page: { url: location.href.slice(0, 2048), title: d.title.slice(0, 300),
                          referrer: d.referrer.slice(0, 2048) } };
        if (st.visitor) {
            f.visitor = st.visitor;
        }
        if (st.last) {
            f.last = st.last;
        }
        return f;
    }

    /* every frame waiting for its ack, again, in order (stored once by cid) */
    function flush() {
        st.outbox.forEach(function (o) {
            send(o.frame);
        });
    }

    function send(frame) {
        if (!net.up) {
            return;
        }
        if (net.ws) {
            net.ws.send(JSON.stringify(frame));
        } else if (net.es) {
            post(frame);
        }
    }

    /*
     * One client message per POST; the answer is its one document (the
     * welcome for a hello, else its ack or error).  The stream unknown: a
     * new hello; the server or the network failing: reconnect and send
     * again; the message refused: it failed.
     */
    function post(frame) {
        return fetch(HTTP + '/chat/v1/send' + QS, {
            method: 'POST', mode: 'cors', credentials: 'omit',
            headers: st.stream ? { 'Content-Type': 'application/json', 'X-Chat-Stream': st.stream }
                : { 'Content-Type': 'application/json' },
            body: JSON.stringify(frame)
        }).then(function (r) {
            if (r.ok) {
                return r.json().then(handle);
            }
            if (r.status === 401 || r.status === 404 || r.status === 410) {
                st.stream = null;
            }
            if (r.status >= 500 || r.status === 429 || !st.stream || frame.type === 'hello') {
                throw new Error(r.status);
            }
            handle({ type: 'error', id: '~', cid: frame.cid,
                     code: r.status === 413 ? 'too_large' : 'bad_message' });
        }).catch(function () {
            drop();
        });
    }

    function connect() {
        clearTimeout(net.timer);
        net.timer = null;
        if (net.mode === 'ws') {
            openWs();
        } else {
            openSse();
        }
    }

    function openWs() {
        var ws, opened = false;
        try {
            ws = new WebSocket(WS + '/chat/v1/ws' + QS, 'helpdesk.chat.v1');
        } catch (e) {
            net.mode = 'sse';
            return openSse();
        }
        net.ws = ws;
        ws.onopen = function () {
            opened = true;
            net.up = true;
            net.wsFails = 0;
            ws.send(JSON.stringify(hello()));
        };
        ws.onmessage = function (e) {
            var m;
            try {
                m = JSON.parse(e.data);
            } catch (x) {
                return;
            }
            handle(m);
        };
        ws.onclose = function (e) {
            if (net.ws !== ws) {
                return;
            }
            net.ws = null;
            net.up = false;
            if (!opened && ++net.wsFails >= 2) {
                net.mode = 'sse';
            }
            later(e.code === 1001);
        };
    }

    function openSse() {
        var q;
        if (!window.EventSource || !window.fetch) {
            return later();
        }
        if (!st.stream) {
            /* the fallback's hello: its answer is the welcome */
            return post(hello()).then(function () {
                if (st.stream && !net.timer) {
                    openSse();
                }
            });
        }
        q = QS + '&stream=' + encodeURIComponent(st.stream)
            + (st.last ? '&after=' + encodeURIComponent(st.last) : '');
        var es = new EventSource(HTTP + '/chat/v1/sse' + q);
        net.es = es;
        es.onopen = function () {
            net.up = true;
            net.tries = 0;
            status('');
            flush();
        };
        es.onmessage = function (e) {
            var m;
            try {
                m = JSON.parse(e.data);
            } catch (x) {
                return;
            }
            handle(m);
        };
        es.onerror = function () {
            if (net.es === es) {
                drop();
            }
        };
    }

    function retry(after) {
        var ws = net.ws;
        net.ws = null;
        net.up = false;
        if (ws) {
            ws.onclose = null;
            ws.close(1000);
        }
        if (net.es && net.es.close) {
            net.es.close();
        }
        net.es = null;
        clearTimeout(net.timer);
        net.timer = null;
        net.tries = Math.max(net.tries, 1);
        if (after > 0) {
            net.timer = setTimeout(connect, Math.min(60, after) * 1000);
        } else {
            later();
        }
    }

    function drop() {
        if (net.es && net.es.close) {
            net.es.close();
        }
        net.es = null;
        net.up = false;
        later();
    }

    /* backoff with jitter: 1, 2, 4 ... 30 s; a server restart (1001) soon */
    function later(soon) {
        var ms;
        if (net.timer) {
            return;
        }
        net.tries += 1;
        ms = soon ? 300 + Math.random() * 1200
            : Math.min(30000, 1000 * Math.pow(2, net.tries - 1)) * (0.75 + Math.random() * 0.5);
        /* (no launcher before a first welcome: the tenant may have no chat) */
        if (net.tries > 1 && ui.status && st.conv) {
            status(S.reconnecting);
        }
        net.timer = setTimeout(connect, ms);
    }

    d.addEventListener('visibilitychange', markRead);

    connect();
