    /*
     * widget.parts: the state, the shadow root, the panel and the
     * conversation as the visitor sees it
     */

    /* ---- state ---- */

    var st = {
        visitor: load('visitor'),
        stream: null,
        settings: null,
        conv: null,         /* {id, status, agent} */
        last: null,         /* the last stored id seen: what we resume from */
        seen: {},           /* id -> element (stored events, shown once) */
        mine: {},           /* cid -> element of our own message */
        outbox: [],         /* frames waiting for their ack: [{cid, frame}] */
        unread: 0,
        readSent: null,
        dlvSent: null,      /* the last id we said we received */
        lastOther: null,    /* the last stored id from the other side */
        delivered: null,
        read: null,
        prechat: {},
        files: [],          /* [{id, name, url, el}] to attach */
        open: false,
        n: 0
    };

    var net = {
        mode: window.WebSocket ? 'ws' : 'sse',
        ws: null, es: null, up: false,
        wsFails: 0, tries: 0, timer: null
    };

    function cid() {
        st.n += 1;
        return 'w' + Date.now().toString(36) + st.n.toString(36)
            + Math.random().toString(36).slice(2, 8);
    }

    function older(a, b) {      /* stream ids: "<ms>-<seq>" */
        var x = a.split('-'), y = b.split('-');
        return +x[0] < +y[0] || (+x[0] === +y[0] && +x[1] < +y[1]);
    }

    function stored(id) {
        return typeof id === 'string' && /^\d+-\d+$/.test(id);
    }

    /* ---- the page element and the shadow root ---- */

    /* on the page at once, empty: a second copy of the snippet finds it */
    var host = h('div', { 'data-helpdesk-chat': '' });
    host.style.cssText = 'all:initial!important';
    (d.body || d.documentElement).appendChild(host);
    var root = host.attachShadow({ mode: 'closed' });
    var wrap = h('div.w');
    /*
     * A constructed stylesheet: a page whose CSP style-src lacks
     * 'unsafe-inline' blocks a <style> element, not this; older browsers
     * get the element.
     */
    var sheet = null;
    try {
        if ('adoptedStyleSheets' in root && typeof CSSStyleSheet === 'function') {
            sheet = new CSSStyleSheet();
            sheet.replaceSync(CSS);
            root.adoptedStyleSheets = [sheet];
        }
    } catch (e) {
        sheet = null;
    }
    if (!sheet) {
        var style = d.createElement('style');
        style.textContent = CSS;
        root.appendChild(style);
    }
    root.appendChild(wrap);

    var ui = {};

    function build() {
        var s = st.settings || {}, pal = palette(s.colour);

        wrap.style.setProperty('--bg', pal.bg);
        wrap.style.setProperty('--fg', pal.fg);
        wrap.style.setProperty('--ink', pal.ink);
        wrap.className = 'w' + (s.position === 'bottom-left' ? ' left' : '');

        if (ui.launcher) {
            ui.launcher.replaceChild(icon(s.icon), ui.launcher.firstChild);
            ui.title.textContent = s.title || S.title;
            ui.greeting.firstChild.textContent = s.greeting || S.greeting;
            return;
        }

        ui.badge = h('span.n', { 'aria-hidden': 'true', hidden: true });
        ui.launcher = h('button.l', {
            type: 'button', 'aria-label': S.open, 'aria-expanded': 'false',
            'aria-controls': 'hc-panel', onclick: toggle
        }, icon(s.icon), ui.badge);

        ui.title = h('h2', { id: 'hc-title' }, s.title || S.title);
        ui.sub = h('p', null);
        ui.status = h('div.st', { role: 'status', 'aria-live': 'polite' });
        ui.log = h('div.lg', { role: 'log', 'aria-live': 'polite', 'aria-label': S.log });
        ui.greeting = h('div.m.g', null, h('div.t', null, s.greeting || S.greeting));
        ui.forms = h('div');
        ui.body = h('div.b', null, ui.greeting, ui.log, ui.forms);
        ui.typing = h('div.ty');

        ui.file = h('input', { type: 'file', tabindex: '-1', 'aria-hidden': 'true',
                               hidden: true, onchange: picked });
        ui.text = h('textarea', { id: 'hc-text', rows: '1', 'aria-label': S.message,
                                  placeholder: S.write, onkeydown: keys, oninput: typing });
        ui.chips = h('div.ch');
        ui.composer = h('form.c', { onsubmit: submit, hidden: true },
            h('button.ib', { type: 'button', 'aria-label': S.attach, title: S.attach,
                             onclick: function () { ui.file.click(); } }, icon('clip')),
            ui.file, ui.text,
            h('button.ib.go', { type: 'submit', 'aria-label': S.send, title: S.send },
              icon('send')));
        ui.tools = h('div.tl', { hidden: true },
            h('button', { type: 'button', onclick: askTranscript }, S.transcript),
            h('button', { type: 'button', onclick: endChat }, S.end));

        ui.panel = h('section.p', { id: 'hc-panel', role: 'dialog',
                                    'aria-labelledby': 'hc-title', hidden: true,
                                    onkeydown: function (e) {
                                        if (e.key === 'Escape') {
                                            e.stopPropagation();
                                            toggle(false);
                                        }
                                    } },
            h('div.hd', null, h('div', null, ui.title, ui.sub),
              h('button.x', { type: 'button', 'aria-label': S.close, title: S.close,
                              onclick: function () { toggle(false); } }, icon('close'))),
            ui.status, ui.body, ui.typing, ui.chips, ui.composer, ui.tools);

        wrap.appendChild(ui.launcher);
        wrap.appendChild(ui.panel);

        if (load('open', true) === '1') {
            toggle(true, true);
        }
    }

    function toggle(on, quiet) {
        if (typeof on !== 'boolean') {
            on = !st.open;
        }
        st.open = on;
        save('open', on ? '1' : null, true);
        ui.panel.hidden = !on;
        wrap.classList.toggle('open', on);
        ui.launcher.setAttribute('aria-expanded', on ? 'true' : 'false');
        ui.launcher.setAttribute('aria-label', on ? S.close : S.open);
        if (on) {
            view();
            markRead();
            /* a form before any message (pre-chat, offline) is read from
             * its top, its introduction included; a conversation from its
             * last message */
            var f = ui.panel.querySelector('form:not([hidden]) input:not([type=file]),'
                + 'form:not([hidden]) textarea'), first = !ui.log.firstChild;
            if (!quiet) {
                (f || ui.panel.querySelector('.x')).focus({ preventScroll: true });
            }
            if (first && f) {
                ui.body.scrollTop = 0;
            } else {
                scroll();
            }
        } else if (!quiet) {
            ui.launcher.focus();
        }
        badge();
    }

    function badge() {
        var n = st.open ? 0 : st.unread;
        ui.badge.hidden = !n;
        ui.badge.textContent = n > 99 ? '99+' : String(n);
        if (!st.open) {
            ui.launcher.setAttribute('aria-label', S.open
                + (n ? ' (' + (n === 1 ? S.unread1 : t('unread', { n: n })) + ')' : ''));
        }
    }

    function scroll() {
        ui.body.scrollTop = ui.body.scrollHeight;
    }

    function clearForms() {
        ui.forms.textContent = '';
        ui.forms.removeAttribute('data-k');
    }

    /* which part of the panel shows: a form, or the conversation */
    function view() {
        var c = st.conv, live = c && /^(bot|queued|active)$/.test(c.status),
            k = ui.panel && ui.forms.getAttribute('data-k');
        if (!ui.panel) {
            return;
        }
        ui.composer.hidden = !live;
        ui.tools.hidden = !live;
        ui.greeting.hidden = !live && !c && !(st.settings && st.settings.open !== false);
        if (live) {
            if (k && k !== 'transcript') {
                clearForms();
            }
        } else if (k !== 'done') {
            if (c) {
                again();
            } else if (st.settings && st.settings.open !== false) {
                prechatForm();
            } else if (st.settings && st.settings.offline_form === false) {
                ui.forms.setAttribute('data-k', 'later');
                ui.forms.textContent = '';
                ui.forms.appendChild(h('p.ok', null, S.later));
            } else {
                offlineForm();
            }
        }
    }

    function again() {
        if (ui.forms.getAttribute('data-k') === 'again') {
            return;
        }
        ui.forms.setAttribute('data-k', 'again');
        ui.forms.textContent = '';
        ui.forms.appendChild(h('button.pb', { type: 'button', onclick: function () {
            st.conv = null;
            clearForms();
            ui.log.textContent = '';
            st.mine = {};
            view();
            var f = ui.forms.querySelector('input,textarea');
            if (f) {
                f.focus();
            }
        } }, S.again));
    }

    /* ---- the conversation ---- */

    function status(text) {
        if (ui.status) {
            ui.status.textContent = text || '';
        }
    }

    function when(at) {
        var x = at ? new Date(at) : new Date();
        return isNaN(x) ? '' : x.toLocaleTimeString(LANG, { hour: '2-digit', minute: '2-digit' });
    }

    function safeUrl(u) {
        try {
            u = new URL(String(u), HTTP);
            return /^https?:$/.test(u.protocol) ? u.href : null;
        } catch (e) {
            return null;
        }
    }

    var IMG = /^image\/(png|jpeg|gif|webp)$/;

    function attachments(list) {
        var out = h('div');
        (Array.isArray(list) ? list : []).forEach(function (a) {
            var name, url, local;
            if (typeof a === 'string') {
                a = { upload_id: a };
            }
            if (!a || typeof a !== 'object') {
                return;
            }
            local = st.files.filter(function (f) { return f.id === a.upload_id; })[0]
                || (st.sent || {})[a.upload_id];
            name = String(a.filename || (local && local.name) || '');
            url = a.url ? safeUrl(a.url) : local && local.link;
            if (url && IMG.test(a.content_type || local && local.type)) {
                out.appendChild(h('img', { src: url, alt: name }));
            }
            if (name) {
                out.appendChild(h('div.a', null, url ? h('a', { href: url, target: '_blank',
                    rel: 'noopener noreferrer' }, name) : '📎 ' + name));
            }
        });
        return out;
    }

    function bubble(m, mine) {
        var from = m.from || {}, el, kids = [];
        if (!mine) {
            kids.push(h('div.by', null, String(from.name || (from.kind === 'agent' ? S.agent : st.settings && st.settings.title || S.title)) + ' · ' + when(m.at)));
        }
        kids.push(h('div.t', null, String(m.text || ''), attachments(m.attachments)));
        (Array.isArray(m.articles) ? m.articles : []).forEach(function (a) {
            var u = a && safeUrl(a.url);
            if (u) {
                kids.push(h('div.a', null, h('a', { href: u, target: '_blank',
                    rel: 'noopener noreferrer' }, String(a.title || u))));
            }
        });
        if (Array.isArray(m.actions) && m.actions.indexOf('talk_to_person') >= 0) {
            kids.push(h('div', null, h('button.act', { type: 'button', onclick: function (e) {
                e.target.disabled = true;
                say({ type: 'handover' });
            } }, S.person)));
        }
        if (mine) {
            kids.push(h('div.s', null, S.sending));
        }
        el = h.apply(null, ['div.m' + (mine ? '.me' : ''), null].concat(kids));
        if (mine) {
            el.insertBefore(h('span.sr', null, S.you + ': '), el.firstChild);
        }
        return el;
    }

    function mark(el, s) {
        var x = el.querySelector('.s');
        el.setAttribute('data-s', s);
        el.classList.toggle('f', s === 'failed');
        if (x) {
            x.textContent = S[s] + (s === 'sending' ? '' : ' · ' + (el.getAttribute('data-at') || ''));
        }
    }

    function note(text, strong) {
        ui.log.appendChild(h('div.ev' + (strong ? '.k' : ''), null, text));
        scroll();
    }

    /* sends a client message that wants an ack; our text shown at once */
    function say(frame, text, files) {
        var c = cid(), el = null;
        frame.cid = c;
        if (text != null) {
            el = bubble({ text: text, attachments: (files || []).map(function (f) { return f.id; }) }, true);
            el.setAttribute('data-cid', c);
            el.setAttribute('data-at', when());
            st.mine[c] = el;
            ui.log.appendChild(el);
            scroll();
        }
        st.outbox.push({ cid: c, frame: frame });
        send(frame);
    }

    function submit(e) {
        var text = ui.text.value.trim(), files = st.files.filter(function (f) { return f.id; });
        e.preventDefault();
        if (!text && !files.length) {
            return;
        }
        if (st.settings && st.settings.max_message
            && new TextEncoder().encode(text).length > st.settings.max_message)
        {
            status(S.toolong);
            return;
        }
        st.sent = st.sent || {};
        files.forEach(function (f) { st.sent[f.id] = f; });
        say({ type: 'message', text: text, attachments: files.map(function (f) { return f.id; }) },
            text, files);
        ui.text.value = '';
        st.files = [];
        chips();
        typingOff();
    }

    function keys(e) {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            ui.composer.requestSubmit ? ui.composer.requestSubmit() : submit(e);
        }
    }

    /* typing: on at most every 3 s while typing, off after 4 s of quiet */
    var typed = { at: 0, timer: null };

    function typing() {
        var now = Date.now();
        if (now - typed.at > 3000) {
            typed.at = now;
            send({ type: 'typing', cid: cid(), on: true });
        }
        clearTimeout(typed.timer);
        typed.timer = setTimeout(typingOff, 4000);
    }

    function typingOff() {
        clearTimeout(typed.timer);
        if (typed.at) {
            typed.at = 0;
            send({ type: 'typing', cid: cid(), on: false });
        }
    }

    /* files: uploaded as chosen, the file as the body */
    function picked() {
        Array.prototype.forEach.call(ui.file.files, function (file) {
            var f = { id: null, name: file.name, url: null };
            st.files.push(f);
            chips();
            status(S.uploading);
            fetch(HTTP + '/chat/v1/upload' + QS, {
                method: 'POST', mode: 'cors', credentials: 'omit',
                headers: { 'Content-Type': file.type || 'application/octet-stream',
                           'X-Chat-Stream': st.stream || '',
                           'X-Filename': encodeURIComponent(file.name) },
                body: file
            }).then(function (r) {
                return r.json().then(function (j) {
                    if (!r.ok) {
                        throw j;
                    }
                    f.id = String(j.upload_id || '');
                    f.type = j.content_type;
                    f.link = safeUrl(j.url);
                    f.url = IMG.test(f.type) ? f.link : null;
                    status('');
                    chips();
                });
            }).catch(function (e) {
                st.files = st.files.filter(function (x) { return x !== f; });
                status(S.upfail + (e && e.detail ? ' ' + e.detail : ''));
                chips();
            });
        });
        ui.file.value = '';
    }

    function chips() {
        ui.chips.textContent = '';
        st.files.forEach(function (f) {
            ui.chips.appendChild(h('span', null, f.url ? h('img', { src: f.url, alt: '' }) : null,
                f.name + (f.id ? '' : ' …'),
                h('button', { type: 'button', 'aria-label': t('remove', { name: f.name }),
                              onclick: function () {
                                  st.files = st.files.filter(function (x) { return x !== f; });
                                  chips();
                                  ui.text.focus();
                              } }, '×')));
        });
    }

    function endChat() {
        say({ type: 'end' });
    }

    /* what came from the other side: delivered at once, read once seen */
    function markDelivered() {
        var upto = st.lastOther;
        if (net.up && upto && (!st.dlvSent || older(st.dlvSent, upto))
            && (!st.readSent || older(st.readSent, upto)))
        {
            st.dlvSent = upto;
            send({ type: 'delivered', cid: cid(), upto: upto });
        }
    }

    function markRead() {
        if (st.open && st.lastOther && d.visibilityState === 'visible'
            && (!st.readSent || older(st.readSent, st.lastOther)))
        {
            st.readSent = st.lastOther;
            send({ type: 'read', cid: cid(), upto: st.lastOther });
        }
        if (st.open) {
            st.unread = 0;
        }
    }

    function statuses() {
        Object.keys(st.mine).forEach(function (c) {
            var el = st.mine[c], id = el.getAttribute('data-id'), s = el.getAttribute('data-s');
            if (!id || s === 'failed') {
                return;
            }
            if (st.read && !older(st.read, id)) {
                mark(el, 'read');
            } else if (st.delivered && !older(st.delivered, id) && s !== 'read') {
                mark(el, 'delivered');
            }
        });
    }

    function agentName(a) {
        return a && a.name ? String(a.name) : S.agent;
    }
