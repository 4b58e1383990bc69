    /* widget.parts: what the server says (docs/chat-protocol.md) */

    /* ---- what the server says ---- */

    function handle(m) {
        var el, c, a;
        if (!m || typeof m !== 'object' || typeof m.type !== 'string') {
            return;
        }
        if (stored(m.id)) {
            if (st.seen[m.id]) {
                return;             /* shown already: a resume overlaps */
            }
            st.seen[m.id] = true;
            if (!st.last || older(st.last, m.id)) {
                st.last = m.id;
            }
        }
        switch (m.type) {

        case 'welcome':
            if (typeof m.visitor === 'string' && /^[0-9a-f]{64}$/.test(m.visitor)) {
                st.visitor = m.visitor;
                save('visitor', m.visitor);
            }
            st.stream = typeof m.stream === 'string' ? m.stream : st.stream;
            st.settings = m.settings && typeof m.settings === 'object' ? m.settings : {};
            /* a signed-in portal customer: what the form need not ask */
            st.known = m.customer && typeof m.customer === 'object' ? m.customer : {};
            if (m.conversation && typeof m.conversation === 'object') {
                c = m.conversation;
                st.conv = { id: c.id, status: String(c.status || 'active'), agent: c.agent };
                if (c.read) {
                    st.read = stored(c.read.agent) ? c.read.agent : st.read;
                    st.readSent = stored(c.read.visitor) ? c.read.visitor : st.readSent;
                }
                if (c.delivered) {
                    st.delivered = stored(c.delivered.agent) ? c.delivered.agent : st.delivered;
                    st.dlvSent = stored(c.delivered.visitor) ? c.delivered.visitor : st.dlvSent;
                }
            } else if (st.conv && st.conv.id) {
                st.conv = null;     /* (one started here and not yet stored stays) */
            }
            build();
            ui.sub.textContent = c && c.agent ? agentName(c.agent) : '';
            net.tries = 0;
            status('');
            view();
            if (net.ws) {
                flush();
            }
            break;

        case 'ack':
            st.outbox = st.outbox.filter(function (o) { return o.cid !== m.cid; });
            el = st.mine[m.cid];
            if (m.conversation && st.conv) {
                st.conv.id = m.conversation;
            }
            if (el && stored(m.ref)) {
                el.setAttribute('data-id', m.ref);
                if (el.getAttribute('data-s') !== 'read') {
                    mark(el, 'sent');
                }
                statuses();
            }
            break;

        case 'error':
            if (m.cid && m.cid === net.hello) {
                /* no welcome (the server is busy): again, as after a drop */
                retry(m.retry_after);
                break;
            }
            st.outbox = st.outbox.filter(function (o) { return o.cid !== m.cid; });
            el = st.mine[m.cid];
            if (el) {
                mark(el, 'failed');
            }
            status(m.code === 'rate_limited' && m.retry_after
                ? t('wait', { s: m.retry_after }) : m.code === 'too_large' ? S.toolong : S.error);
            break;

        case 'message':
            if (m.conversation && st.conv && !st.conv.id) {
                st.conv.id = m.conversation;
            }
            if (m.cid && st.mine[m.cid]) {
                el = st.mine[m.cid];     /* our own, already shown */
                el.setAttribute('data-id', m.id);
                if (!el.getAttribute('data-s') || el.getAttribute('data-s') === 'sending') {
                    mark(el, 'sent');
                }
                break;
            }
            if (m.handover) {
                /* "talk to a person": said once, the buttons are spent */
                Array.prototype.forEach.call(ui.log.querySelectorAll('button.act'), function (b) {
                    b.disabled = true;
                });
                note(S.handover);
                break;
            }
            a = m.from && m.from.kind === 'visitor';
            el = bubble(m, a);
            if (a) {
                el.setAttribute('data-id', m.id);
                el.setAttribute('data-at', when(m.at));
                st.mine[m.cid || m.id] = el;
                mark(el, 'sent');
            } else if (stored(m.id)) {
                st.lastOther = m.id;
                if (!st.readSent || older(st.readSent, m.id)) {
                    if (!st.open || d.visibilityState !== 'visible') {
                        st.unread += 1;
                    }
                }
                ui.typing.textContent = '';
            }
            ui.log.appendChild(el);
            statuses();
            scroll();
            clearTimeout(net.read);
            net.read = setTimeout(function () {
                markRead();
                markDelivered();
            }, 250);
            badge();
            break;

        case 'typing':
            if (m.from !== 'visitor') {
                ui.typing.textContent = m.on ? t('typing', { name: st.conv && st.conv.agent
                    ? agentName(st.conv.agent) : S.agent }) : '';
                clearTimeout(net.typing);
                if (m.on) {
                    net.typing = setTimeout(function () { ui.typing.textContent = ''; }, 8000);
                }
            }
            break;

        case 'status':
            if (stored(m.delivered)) {
                st.delivered = m.delivered;
            }
            if (stored(m.read)) {
                st.read = m.read;
            }
            statuses();
            break;

        case 'queue':
            if (typeof m.position === 'number' && m.position > 0) {
                status(t('queue', { n: ordinal(m.position) })
                    + (m.estimate_seconds > 0 ? ' · ' + t('estimate',
                        { m: Math.max(1, Math.round(m.estimate_seconds / 60)) }) : '')
                    + (m.message ? ' — ' + String(m.message) : ''));
            } else {
                status('');
            }
            if (st.conv && st.conv.status === 'bot') {
                st.conv.status = 'queued';
            }
            break;

        case 'joined':
            if (st.conv) {
                st.conv.status = 'active';
                st.conv.agent = m.agent;
            }
            ui.sub.textContent = agentName(m.agent);
            status('');
            note(t('joined', { name: agentName(m.agent) }));
            break;

        case 'left':
            note(t('left', { name: agentName(m.agent) }));
            break;

        case 'transferred':
            if (st.conv) {
                st.conv.agent = m.to;
            }
            ui.sub.textContent = agentName(m.to);
            note(t('transferred', { name: agentName(m.to) }));
            break;

        case 'ended':
            if (st.conv) {
                st.conv.status = 'ended';
            }
            ui.typing.textContent = '';
            status('');
            note(S.ended, true);
            view();
            break;

        case 'converted':
            if (st.conv) {
                st.conv.status = 'converted';
            }
            status('');
            note(t('converted', { n: String(m.ticket && m.ticket.number || '') }), true);
            view();
            break;
        }
    }
