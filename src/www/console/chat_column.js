  /* chat.parts: one chat, its column: events, the transcript, the composer */

  /* ---------- one chat ---------- */

  function adopt(info) {
    if (!info || !info.conversation) return null;
    var c = S.chats[info.conversation];
    if (!c) {
      var q = S.queue.filter(function (x) { return x.conversation === info.conversation; })[0] ||
              (S.offer && S.offer.conversation === info.conversation ? S.offer : null);
      c = S.chats[info.conversation] = {
        id: info.conversation, visitor: info.visitor || (q && q.visitor) || {}, status: 'active',
        ids: {}, last: null, mine: [], read: null, delivered: null, readSent: null, lastVisitor: null,
        unread: 0, ticket: null, ended: false, el: null, started: Date.now()
      };
      S.order.push(c.id);
      S.queue = S.queue.filter(function (x) { return x.conversation !== c.id; });
      if (S.offer && S.offer.conversation === c.id) S.offer = null;
      build(c);
      enrich(c, 0);
      if (!S.shown) S.shown = c.id;
    } else if (info.visitor) {
      c.visitor = info.visitor;
      drawVisitor(c);
    }
    if (info.status) setStatus(c, info.status);
    if (info.ticket) setTicket(c, info.ticket);
    if (info.read || info.delivered) {
      /* the visitor's pointers on the agent's messages; the agent's own */
      readStatus(c, { read: info.read && info.read.visitor, delivered: info.delivered && info.delivered.visitor });
      if (info.read && stored(info.read.agent)) c.readSent = info.read.agent;
      if (info.delivered && stored(info.delivered.agent)) c.dlvSent = info.delivered.agent;
    }
    drawAll();
    return c;
  }

  function bump(c, id) {
    if (!c.last || cmp(id, c.last) > 0) c.last = id;
  }

  /* an ended, converted or transferred chat is over for this agent: it
     stays on screen until the agent closes it */
  function setStatus(c, status) {
    c.status = status;
    c.ended = status === 'ended' || status === 'transferred' || status === 'converted';
    if (c.el) {
      c.el.root.classList.toggle('ended', c.ended);
      c.el.badge.textContent = t('ch.status.' + status);
      c.el.badge.className = 'badge chat-badge chat-' + status;
      c.el.form.hidden = c.ended;
      c.el.close.hidden = !c.ended;
      c.el.end.hidden = c.ended;
      c.el.transferBtn.hidden = c.ended || S.settings.transfer_allowed === false;
      c.el.convert.hidden = !!c.ticket || status === 'converted' || c.ended;
    }
  }

  function setTicket(c, ticket) {
    c.ticket = ticket;
    if (!c.el) return;
    c.el.ticket.textContent = '';
    if (ticket && ticket.number) {
      append(c.el.ticket, [t('ch.ticket'), ' ', h('a', { href: base + '/tickets/' + encodeURIComponent(ticket.number),
                                                         'data-nav': true }, ticket.number)]);
      c.el.convert.hidden = true;
    }
  }

  /* a stored event or a live one of this chat, once */
  function event(c, d) {
    if (stored(d.id)) {
      if (c.ids[d.id]) return;
      /* our own message, stored before its ack came: the same node */
      var p = d.cid && S.pending[d.cid];
      if (p && p.li && p.conversation === c.id) {
        delete S.pending[d.cid];
        c.ids[d.id] = p.li;
        p.li.setAttribute('data-id', d.id);
        p.li.classList.remove('sending');
        c.mine.push(d.id);
        bump(c, d.id);
        readMarks(c);
        return;
      }
    }
    var li = render(c, d);
    if (!li) {
      if (stored(d.id)) { c.ids[d.id] = true; bump(c, d.id); }
      return;
    }
    if (stored(d.id)) {
      c.ids[d.id] = li;
      bump(c, d.id);
      li.setAttribute('data-id', d.id);
    }
    place(c, li, d.id);

    var from = (d.from && d.from.kind) || '';
    if (d.type === 'message' && from === 'visitor') {
      c.lastVisitor = d.id;
      visitorTyping(c, false);
      if (!visible(c)) { c.unread += 1; drawTabs(); }
      markRead(c);
      clearTimeout(c.dlvTimer);
      c.dlvTimer = setTimeout(function () { markDelivered(c); }, 200);
    }
    if (li.classList.contains('own') && stored(d.id)) c.mine.push(d.id);
    if (d.type === 'ended' && c.status !== 'converted') setStatus(c, 'ended');
    if (d.type === 'converted') {
      setTicket(c, d.ticket || null);
      setStatus(c, 'converted');
    }
    if (d.type === 'transferred' && d.to && S.me) {
      var toMe = (d.to.id || d.to.agent) === S.me.id;
      if (!toMe && c.last === d.id) setStatus(c, 'transferred');
      else if (toMe) announce(t('ch.transferred.to.me', { name: visitorName(c.visitor) }));
    }
    if (d.type === 'left' && d.agent && S.me && d.agent.id === S.me.id && c.last === d.id) setStatus(c, 'transferred');
    if (/^(ended|converted|transferred|left|joined)$/.test(d.type)) { drawHeader(); drawTabs(); decorate(); }
    readMarks(c);
    if (li.classList.contains('from-visitor') || li.classList.contains('from-bot')) scrollDown(c, true);
    else scrollDown(c, false);
    notify();
  }

  /* in id order: a resumed event may come after a newer live one */
  function place(c, li, id) {
    var log = c.el.log;
    if (stored(id)) {
      var after = null;
      for (var n = log.lastElementChild; n; n = n.previousElementSibling) {
        var nid = n.getAttribute('data-id');
        if (!nid || cmp(nid, id) < 0) { after = n; break; }
      }
      if (after && after.nextElementSibling) { log.insertBefore(li, after.nextElementSibling); return; }
      if (!after && log.firstElementChild && log.firstElementChild.getAttribute('data-id')) {
        log.insertBefore(li, log.firstElementChild);
        return;
      }
    }
    log.appendChild(li);
  }

  function render(c, d) {
    var f = d.from || {}, kind = f.kind || 'system', name = f.name || '', body = null, cls;
    var when = h('time', { dateTime: d.at || '' }, clock(d.at));
    /* the bot handing the visitor over to a person is an event */
    if (d.type === 'message' && kind === 'bot' && d.handover) {
      return h('li.chat-event', h('span', t('ch.ev.handover')), ' ', when);
    }
    if (d.type === 'message' && kind === 'bot' && !d.text && !(d.articles || []).length) return null;
    if (d.type === 'message' || d.type === 'note') {
      cls = d.type === 'note' ? 'note' : 'from-' + kind;
      if (kind === 'visitor' && !name) name = visitorName(c.visitor);
      if (kind === 'agent' && !name && S.me && f.id === S.me.id) name = S.me.name;
      var own = kind === 'agent' && S.me && (f.id ? f.id === S.me.id : f.name === S.me.name);
      var files = fileList(d.attachments);
      var articles = (d.articles || []).map(function (a) {
        var u = safeUrl(a.url);
        return h('li', u ? h('a', { href: u, target: '_blank', rel: 'noopener noreferrer' }, a.title || u) : (a.title || ''));
      });
      body = [
        h('p.chat-meta', h('strong', name || t('ch.from.' + kind)),
          kind === 'bot' ? h('span.badge.chat-bot', t('ch.bot')) : null,
          d.type === 'note' ? h('span.badge.internal', t('ch.note')) : null, ' ', when,
          own ? h('span.chat-state', { 'aria-live': 'off' }, '') : null),
        d.text ? h('div.chat-text', d.text) : null,
        articles.length ? h('ul.chat-articles', articles) : null,
        files.length ? h('ul.files', files) : null];
      var li = h('li.chat-msg.' + cls + (own ? '.own' : ''), body);
      return li;
    }
    var text = null, who = (d.agent && d.agent.name) || name;
    switch (d.type) {
    case 'joined': text = t('ch.ev.joined', { name: who || t('ch.from.agent') }); break;
    case 'left': text = t('ch.ev.left', { name: who || t('ch.from.agent') }); break;
    case 'transferred':
      text = t('ch.ev.transferred', { name: (d.to && (d.to.name || d.to.group)) || '—' });
      if (d.note) text += ' — ' + d.note;
      break;
    case 'ended': text = t('ch.ev.ended.' + (d.by === 'agent' || d.by === 'system' ? d.by : 'visitor')); break;
    case 'converted':
      return h('li.chat-event', h('span', t('ch.ev.converted'), ' ',
        d.ticket && d.ticket.number ? h('a', { href: base + '/tickets/' + encodeURIComponent(d.ticket.number),
                                               'data-nav': true }, d.ticket.number) : ''), ' ', when);
    default:
      if (!stored(d.id)) return null;
      text = d.text || d.type;
    }
    return h('li.chat-event', h('span', text), ' ', when);
  }

  /*
   * A message's files: each a link (its own, under the console), an image
   * that is safe to show (never SVG) with its thumbnail.
   */
  function fileList(list) {
    return (Array.isArray(list) ? list : []).map(function (a) {
      if (typeof a === 'string') return h('li', t('ch.attachment'));
      if (!a || typeof a !== 'object') return null;
      var name = a.filename || a.name || '…';
      /* a path of this origin, never "//host" nor "/\host" (browsers drop a tab or newline) */
      var link = safeUrl(a.url) || (typeof a.url === 'string' && /^\/[^/\\]/.test(a.url) && !/[\t\n\r]/.test(a.url) ? a.url : null);
      var thumb = link && /^image\/(png|jpeg|gif|webp)$/.test(a.content_type || '')
        ? h('img.chat-thumb', { src: link, alt: name, loading: 'lazy' }) : null;
      return h('li', link ? h('a', { href: link, target: '_blank', rel: 'noopener noreferrer' }, thumb, name) : name,
               a.size ? ' (' + HD.size(a.size) + ')' : '');
    }).filter(Boolean);
  }

  /* the visitor's read and delivered pointers, on the agent's messages */
  function readStatus(c, d) {
    if (d.read && stored(d.read) && (!c.read || cmp(d.read, c.read) > 0)) c.read = d.read;
    if (d.delivered && stored(d.delivered) && (!c.delivered || cmp(d.delivered, c.delivered) > 0)) c.delivered = d.delivered;
    readMarks(c);
  }

  function readMarks(c) {
    /* notes are never the visitor's to read */
    c.el.log.querySelectorAll('li.own:not(.note)').forEach(function (li) {
      var id = li.getAttribute('data-id'), st = li.querySelector('.chat-state');
      if (!st || li.classList.contains('failed')) return;
      var s = !id ? 'sending' : c.read && cmp(id, c.read) <= 0 ? 'read'
            : c.delivered && cmp(id, c.delivered) <= 0 ? 'delivered' : 'sent';
      if (st.getAttribute('data-s') !== s) {
        st.setAttribute('data-s', s);
        st.textContent = t('ch.state.' + s);
      }
    });
  }

  function visitorTyping(c, on) {
    clearTimeout(c.typingTimer);
    c.el.typing.textContent = on ? t('ch.typing', { name: visitorName(c.visitor) }) : '';
    if (on) c.typingTimer = setTimeout(function () { visitorTyping(c, false); }, TYPING_SHOWN);
  }

  function visible(c) {
    if (document.hidden || !c.el || panel.hidden) return false;
    return c.el.root.offsetParent !== null;
  }

  /* what the visitor wrote reached this console: delivered (read once seen) */
  function markDelivered(c) {
    if (!c || !c.lastVisitor || !S.open || c.ended) return;
    if (c.readSent && cmp(c.lastVisitor, c.readSent) <= 0) return;
    if (c.dlvSent && cmp(c.lastVisitor, c.dlvSent) <= 0) return;
    c.dlvSent = c.lastVisitor;
    send({ type: 'delivered', conversation: c.id, upto: c.lastVisitor });
  }

  function markRead(c) {
    if (!c || !c.lastVisitor || !S.open || !visible(c)) return;
    if (c.unread) { c.unread = 0; drawTabs(); }
    if (c.readSent && cmp(c.lastVisitor, c.readSent) <= 0) return;
    c.readSent = c.lastVisitor;
    send({ type: 'read', conversation: c.id, upto: c.lastVisitor });
  }

  document.addEventListener('visibilitychange', function () {
    S.order.forEach(function (conv) { markRead(S.chats[conv]); });
  });

  function scrollDown(c, always) {
    var log = c.el.scroll;
    var near = log.scrollHeight - log.scrollTop - log.clientHeight < 120;
    if (always || near) log.scrollTop = log.scrollHeight;
  }

  function typing(c) {
    var now = Date.now();
    if (!c.typingOn || now - c.typingAt > TYPING_EVERY) {
      c.typingOn = true;
      c.typingAt = now;
      send({ type: 'typing', conversation: c.id, on: true });
    }
    clearTimeout(c.idleTimer);
    c.idleTimer = setTimeout(function () { stopTyping(c); }, TYPING_IDLE);
  }

  function stopTyping(c) {
    clearTimeout(c.idleTimer);
    if (!c.typingOn) return;
    c.typingOn = false;
    send({ type: 'typing', conversation: c.id, on: false });
  }

  function say(c, text, note, files) {
    text = text.replace(/\s+$/, '');
    files = files || [];
    if (!text.trim() && !files.length) return false;
    stopTyping(c);
    var kind = note ? 'note' : 'message';
    var msg = { type: kind, cid: cid(), conversation: c.id, text: text };
    if (files.length) msg.attachments = files.map(function (f) { return f.upload_id; });
    var shown = fileList(files);
    var li = h('li.chat-msg.sending.own.' + (note ? 'note' : 'from-agent'),
      h('p.chat-meta', h('strong', (S.me && S.me.name) || t('ch.from.agent')),
        note ? h('span.badge.internal', t('ch.note')) : null, ' ',
        h('time', { dateTime: new Date().toISOString() }, clock()),
        h('span.chat-state', { 'data-s': 'sending' }, t('ch.state.sending'))),
      text ? h('div.chat-text', text) : null,
      shown.length ? h('ul.files', shown) : null);
    S.pending[msg.cid] = { kind: kind, conversation: c.id, li: li, msg: msg };
    c.el.log.appendChild(li);
    scrollDown(c, true);
    if (S.ws && S.open) S.ws.send(JSON.stringify(msg));
    return true;
  }

  function closeTransfer(c) {
    c.el.transfer.hidden = true;
    c.el.transferBtn.setAttribute('aria-expanded', 'false');
  }

  function fill(c, text) {
    var v = c.visitor || {};
    return text.replace(/\{\{\s*customer\.name\s*\}\}/g, visitorName(v) === t('ch.visitor') ? '' : visitorName(v))
               .replace(/\{\{\s*customer\.email\s*\}\}/g, v.email || '')
               .replace(/\{\{\s*ticket\.number\s*\}\}/g, (c.ticket && c.ticket.number) || '')
               .replace(/\{\{\s*ticket\.subject\s*\}\}/g, '')
               .replace(/\{\{\s*agent\.name\s*\}\}/g, (S.me && S.me.name) || (boot.user && boot.user.name) || '');
  }

  function loadCanned() {
    if (S.canned) return S.canned;
    S.canned = HD.api('GET', '/canned').then(function (r) { return r.data || []; }).catch(function () { return []; });
    return S.canned;
  }

  /* the DOM of one chat, built once; events are added to it */
  function build(c) {
    var el = c.el = {};
    var n = c.id.slice(0, 8);
    el.alert = h('p.alert.error.chat-alert', { role: 'alert', hidden: true });
    el.badge = h('span.badge.chat-badge');
    el.ticket = h('span.chat-ticket');
    el.title = h('h2.chat-name#chat-h-' + n);
    el.details = h('div.chat-visitor#chat-v-' + n);
    el.detailsBtn = h('button.link.chat-details-toggle', { type: 'button', 'aria-expanded': 'true',
                                                           'aria-controls': 'chat-v-' + n, on: { click: function () {
      var open = el.details.hidden;
      el.details.hidden = !open;
      el.detailsBtn.setAttribute('aria-expanded', open ? 'true' : 'false');
      el.detailsBtn.textContent = open ? t('ch.details.hide') : t('ch.details.show');
    } } }, t('ch.details.hide'));
    el.log = h('ol.chat-log', { role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions',
                                'aria-labelledby': 'chat-h-' + n });
    el.scroll = h('div.chat-scroll', el.log);
    el.typing = h('p.chat-typing', { 'aria-live': 'polite' });

    /* the composer: Enter sends, Shift+Enter is a new line */
    var text = h('textarea', { name: 'text', rows: 2, 'aria-label': t('ch.compose'), placeholder: t('ch.compose.hint'),
                               on: { input: function () { if (!noteBox.checked) typing(c); }, keydown: function (e) {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
    } } });
    var noteBox = h('input', { type: 'checkbox', name: 'note', on: { change: function () {
      el.form.classList.toggle('noting', noteBox.checked);
      text.placeholder = noteBox.checked ? t('ch.note.hint') : t('ch.compose.hint');
      if (noteBox.checked) stopTyping(c);
    } } });
    var canned = h('select', { name: 'canned', 'aria-label': t('ch.canned'), on: { change: function () {
      var id = canned.value;
      canned.value = '';
      loadCanned().then(function (list) {
        var r = list.filter(function (x) { return x.id === id; })[0];
        if (!r) return;
        text.value = (text.value ? text.value.replace(/\s+$/, '') + '\n' : '') + fill(c, r.body);
        text.focus();
        if (!noteBox.checked) typing(c);
      });
    } } }, h('option', { value: '' }, t('ch.canned')));
    loadCanned().then(function (list) {
      list.forEach(function (r) { canned.appendChild(h('option', { value: r.id }, r.title)); });
      canned.hidden = !list.length;
    });
    /* files: uploaded as soon as they are chosen, sent with the next message */
    var files = [];
    var fileItems = h('ul.files.chat-uploads', { 'aria-live': 'polite' });
    var fileInput = h('input', { type: 'file', multiple: true, on: { change: function () {
      Array.prototype.forEach.call(fileInput.files, function (f) {
        var item = { li: h('li', f.name + ' …'), file: null };
        fileItems.appendChild(item.li);
        files.push(item);
        item.p = HD.api('POST', '/v1/upload', f, { raw: true, root: base + '/_/chat', headers: {
          'Content-Type': f.type || 'application/octet-stream', 'X-Filename': encodeURIComponent(f.name) } })
          .then(function (u) {
            item.file = u;
            item.li.textContent = '';
            append(item.li, [u.filename + ' (' + HD.size(u.size) + ') ',
              h('button.link.chat-unattach', { type: 'button', 'aria-label': t('ch.unattach', { name: u.filename }),
                                               on: { click: function () {
                files.splice(files.indexOf(item), 1);
                item.li.remove();
                text.focus();
              } } }, '×')]);
          })
          .catch(function (err) {
            files.splice(files.indexOf(item), 1);
            item.li.textContent = f.name + ' — ' + HD.message(err);
          });
      });
      fileInput.value = '';
    } } });
    function submit() {
      if (files.some(function (f) { return !f.file; })) {
        /* still uploading: send once they are in */
        Promise.all(files.map(function (f) { return f.p; })).then(submit);
        return;
      }
      var ready = files.map(function (f) { return f.file; });
      if (say(c, text.value, noteBox.checked, ready)) {
        text.value = '';
        files = [];
        fileItems.textContent = '';
        el.alert.hidden = true;
      }
      text.focus();
    }
    el.text = text;
    el.form = h('form.chat-compose', { on: { submit: function (e) { e.preventDefault(); submit(); } } },
      text, fileItems,
      h('div.chat-tools', canned,
        h('label.button.secondary.chat-attach', fileInput, t('ch.attach')),
        h('label.check.chat-note', noteBox, ' ', t('ch.note.toggle')),
        h('button', { type: 'submit' }, t('ch.send'))));

    /* transfer: another available agent, or a group, with a note */
    el.transfer = h('form.chat-transfer', { hidden: true, on: { submit: function (e) {
      e.preventDefault();
      var to = el.transfer.elements.to.value;
      if (!to) { el.transfer.elements.to.focus(); return; }
      var target = to.indexOf('g:') === 0 ? { group: to.slice(2) } : { agent: to.slice(2) };
      var msg = { type: 'transfer', conversation: c.id, to: target, note: el.transfer.elements.note.value.trim() || undefined };
      var k = send(msg);
      if (!k) { el.alert.textContent = t('ch.error.unavailable'); el.alert.hidden = false; return; }
      S.pending[k] = { kind: 'transfer', conversation: c.id };
    } } });
    /* built once; only the choice of agents follows presence, so a note
       being typed keeps its place */
    var toSel = h('select', { name: 'to' });
    var nobody = h('p.hint', t('ch.transfer.nobody'));
    append(el.transfer, [
      HD.field(t('ch.transfer.to'), toSel), nobody,
      HD.field(t('ch.transfer.note'), h('textarea', { name: 'note', rows: 2 }), t('ch.transfer.note.hint')),
      h('div.row', h('button', { type: 'submit' }, t('ch.transfer.send')),
        h('button.secondary', { type: 'button', on: { click: function () { closeTransfer(c); el.transferBtn.focus(); } } },
          t('ch.cancel')))]);
    toSel.id = 'chat-to-' + n;
    el.transfer.querySelectorAll('label')[0].htmlFor = toSel.id;
    el.transfer.elements.note.id = 'chat-note-' + n;
    el.transfer.querySelectorAll('label')[1].htmlFor = el.transfer.elements.note.id;
    c.drawTransfer = function () {
      var was = toSel.value;
      var agents = Object.keys(S.agents).map(function (k) { return S.agents[k]; })
        .filter(function (a) { return a.status === 'available'; })
        .sort(function (a, b) { return (a.name || '').localeCompare(b.name || ''); });
      toSel.textContent = '';
      append(toSel, [h('option', { value: '' }, t('ch.transfer.choose')),
        agents.length ? h('optgroup', { label: t('ch.transfer.agents') }, agents.map(function (a) {
          var load = a.limit ? ' (' + (a.load || 0) + '/' + a.limit + ')' : '';
          return h('option', { value: 'a:' + a.id }, a.name + load);
        })) : null,
        S.groups.length ? h('optgroup', { label: t('ch.transfer.groups') }, S.groups.map(function (g) {
          var name = typeof g === 'string' ? g : g.name;
          return h('option', { value: 'g:' + name }, name);
        })) : null]);
      toSel.value = was;
      if (toSel.value !== was) toSel.value = '';
      nobody.hidden = !!(agents.length || S.groups.length);
    };
    c.drawTransfer();
    el.transferBtn = h('button.secondary.chat-transfer-btn', { type: 'button', 'aria-expanded': 'false', on: { click: function () {
      var open = el.transfer.hidden;
      el.transfer.hidden = !open;
      el.transferBtn.setAttribute('aria-expanded', open ? 'true' : 'false');
      if (open) { c.drawTransfer(); el.transfer.elements.to.focus(); }
    } } }, t('ch.transfer'));
    el.convert = h('button.secondary.chat-convert', { type: 'button', on: { click: function () {
      var k = send({ type: 'convert', conversation: c.id });
      if (k) { S.pending[k] = { kind: 'convert', conversation: c.id }; el.convert.disabled = true;
               setTimeout(function () { el.convert.disabled = false; }, 5000); }
    } } }, t('ch.convert'));
    el.end = h('button.secondary.chat-end', { type: 'button', on: { click: function () {
      if (!confirm(t('ch.end.confirm', { name: visitorName(c.visitor) }))) return;
      var k = send({ type: 'end', conversation: c.id });
      if (k) S.pending[k] = { kind: 'end', conversation: c.id };
    } } }, t('ch.end'));
    el.close = h('button.secondary.chat-close', { type: 'button', hidden: true, on: { click: function () { forget(c); } } }, t('ch.close'));

    el.root = h('section.chat-col', { 'aria-labelledby': 'chat-h-' + n, 'data-conversation': c.id, id: 'chat-' + n },
      h('header.chat-head', h('div.chat-title', el.title, el.badge, el.ticket, el.detailsBtn),
        h('div.chat-actions', el.transferBtn, el.convert, el.end, el.close)),
      el.transfer, el.details, el.alert, el.scroll, el.typing, el.form);
    el.root.addEventListener('focusin', function () { markRead(c); });
    el.root.addEventListener('pointerdown', function () { markRead(c); });
    drawVisitor(c);
    setStatus(c, c.status);
  }

  function forget(c) {
    clearTimeout(c.typingTimer);
    clearTimeout(c.idleTimer);
    delete S.chats[c.id];
    S.order = S.order.filter(function (x) { return x !== c.id; });
    if (S.shown === c.id) S.shown = S.order[0] || null;
    c.el.root.remove();
    drawAll();
  }

  /*
   * What the record knows of the visitor (the page, the browser, the
   * language, the customer, earlier chats): the REST API's conversation,
   * through the console's session.  The record is written in batches, so a
   * chat just started may not be there yet: asked again a few times.
   */
  function enrich(c, tries) {
    if (!HD.rest || !/^[0-9a-f-]{36}$/.test(c.id)) return;
    HD.rest('GET', '/v1/chat/conversations/' + c.id).then(function (r) {
      if (!S.chats[c.id]) return;
      var v = Object.assign({}, c.visitor);
      var rv = r.visitor || {};
      ['name', 'email'].forEach(function (k) { if (!v[k] && rv[k]) v[k] = rv[k]; });
      v.id = v.id || rv.id;
      if (r.page && (r.page.url || r.page.title)) v.page = r.page;
      if (r.language) v.language = r.language;
      if (r.user_agent) v.user_agent = r.user_agent;
      if (r.prechat && r.prechat.fields) v.fields = r.prechat.fields;
      if (r.customer && r.customer.id) v.customer_id = r.customer.id;
      c.visitor = v;
      if (r.ticket && r.ticket.number && !c.ticket) setTicket(c, r.ticket);
      if (!v.id) { drawVisitor(c); drawTabs(); return; }
      return HD.rest('GET', '/v1/chat/conversations?limit=6&visitor=' + encodeURIComponent(v.id)).then(function (l) {
        v.previous_chats = (l.data || []).filter(function (x) { return x.id !== c.id; }).map(function (x) {
          return { conversation: x.id, started_at: x.started_at, status: x.status, ticket: x.ticket };
        });
      }).catch(function () {}).then(function () {
        if (!S.chats[c.id]) return;
        drawVisitor(c);
        drawTabs();
      });
    }).catch(function (err) {
      if (err && err.status === 404 && tries < 5 && S.chats[c.id]) {
        setTimeout(function () { enrich(c, tries + 1); }, 2000 * (tries + 1));
      }
    });
  }
