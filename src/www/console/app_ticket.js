  /* app.parts: one ticket; the agent's own account */

  /* ---------- one ticket ---------- */

  function ticket(number) {
    var tk = null, canned = [], viewers = h('p.viewers', { role: 'status' }), heartbeat = null;
    var history = h('ol.history'), side = h('aside.side'), replyBox = h('section.reply');
    var typing = false;

    function load() {
      return api('GET', '/tickets/' + encodeURIComponent(number)).then(function (r) {
        var first = !tk;
        tk = r;
        drawHistory();
        drawSide();
        if (first) drawReply();
        else drawChannelNote();
      });
    }

    function who(ev) {
      var a = ev.actor || {};
      if (a.type === 'system') return t('c.actor.system');
      if (a.role === 'api') return (a.name || 'API') + ' (' + t('c.actor.api') + ')';
      return (a.name || '') + ' (' + t('c.role.' + (a.role || 'customer')) + ')';
    }

    function value(type, v) {
      if (v === null || v === undefined || v === '') return '—';
      if (type === 'status_changed') return t('c.status.' + v);
      if (type === 'priority_changed') return t('c.priority.' + v);
      if (type === 'assignee_changed') {
        var a = (boot.agents || []).filter(function (x) { return x.id === v; })[0];
        return a ? a.name : v;
      }
      return v;
    }

    function drawHistory() {
      history.textContent = '';
      tk.events.forEach(function (ev) {
        var note = ev.visibility === 'internal';
        var what = ev.type === 'created' ? t('c.ev.created')
                 : ev.type === 'comment' ? (note ? t('c.ev.note') : ev.actor && ev.actor.role && ev.actor.role !== 'customer'
                                            ? t('c.ev.reply') : t('c.ev.message'))
                 : t('c.ev.changed', { field: t('c.field.' + ev.type.replace('_changed', '')),
                                       from: value(ev.type, ev.change && ev.change.from),
                                       to: value(ev.type, ev.change && ev.change.to) });
        var mail = ev.email ? mailBlock(ev, tk.number) : null;
        var files = (mail ? mail.files : ev.attachments || []).map(function (a) {
          var url = base + '/_/api/tickets/' + tk.number + '/attachments/' + a.id;
          var img = /^image\/(png|jpeg|gif|webp)$/.test(a.content_type);
          return h('li', img ? h('a', { href: url }, h('img.preview', { src: url, alt: a.filename })) : null,
                   h('a', { href: url }, a.filename), ' (' + size(a.size) + ')');
        });
        var wa = ev.whatsapp;
        history.appendChild(h('li.event' + (note ? '.internal' : '') + (mail ? '.mail' : '') + '.by-' + ((ev.actor && ev.actor.role) || 'system'),
          { id: 'ev-' + ev.id },
          h('p.meta', h('time', { dateTime: ev.created_at }, when(ev.created_at)), ' · ', channelTag(ev.channel),
            ' · ', h('strong', who(ev)), ' ', what,
            note ? h('span.badge.internal', t('c.internal')) : null,
            ev.delivery ? h('span.badge.delivery-' + ev.delivery.status,
              t('c.delivery.' + ev.delivery.status) + (ev.delivery.error ? ': ' + ev.delivery.error : '')) : null),
          wa && wa.type && wa.type !== 'text' ? h('p.wa-type', t('c.wa.type', { type: wa.type })) : null,
          mail ? [mail.head, mail.body, mail.foot] : ev.body ? h('div.body', ev.body) : null,
          files.length ? h('ul.files', files) : null));
      });
    }

    function prop(name, options, value) {
      var sel = h('select', { name: name, on: { change: function () {
        var body = {};
        body[name] = sel.value === '' ? null : sel.value;
        sel.disabled = true;
        api('PATCH', '/tickets/' + tk.number, body).then(function (r) {
          tk = r; drawHistory(); drawSide(); announce(t('c.saved'));
        }).catch(function (err) { announce(message(err)); drawSide(); });
      } } }, options.map(function (o) { return h('option', { value: o[0], selected: o[0] === (value || '') }, o[1]); }));
      return field(t('c.field.' + name), sel);
    }

    function drawSide() {
      side.textContent = '';
      var cats = categories();
      if (tk.category && !cats.some(function (c) { return c[0] === tk.category; })) cats.push([tk.category, tk.category]);
      append(side, [
        h('h2', t('c.properties')),
        prop('status', STATUSES.map(function (s) { return [s, t('c.status.' + s)]; }), tk.status),
        prop('priority', PRIORITIES.map(function (p) { return [p, t('c.priority.' + p)]; }), tk.priority),
        prop('category', [['', '—']].concat(cats), tk.category),
        prop('assignee', [['', t('c.unassigned')]].concat((boot.agents || []).map(function (a) { return [a.id, a.name]; })),
             tk.assignee && tk.assignee.id),
        h('h2', t('c.requester')),
        tk.requester ? h('p.requester', link('/customers/' + tk.requester.id,
                           h('strong', tk.requester.name || tk.requester.email || tk.requester.phone || '—')), h('br'),
                         tk.requester.email || '', h('br'), tk.requester.phone || '') : h('p', '—'),
        h('h2', t('c.other')),
        tk.requester_tickets.length ? h('ul.others', tk.requester_tickets.map(function (o) {
          return h('li', link('/tickets/' + o.number, o.number + ' ' + o.subject), ' ', badge('status', o.status));
        })) : h('p.muted', t('c.other.none'))]);
    }

    var channelNote = h('div.channel-note', { 'aria-live': 'polite' });

    var via = null;     /* the fallback, when the agent chooses it */

    function drawChannelNote() {
      var r = tk.reply || {}, wa = r.whatsapp;
      channelNote.textContent = '';
      channelNote.className = 'channel-note';
      if (r.channel === 'whatsapp' && wa && !wa.window_open) {
        channelNote.classList.add('warn');
        append(channelNote, [h('p', h('strong', t('c.wa.closed')), ' ',
          wa.last_inbound_at ? t('c.wa.last', { when: when(wa.last_inbound_at) }) : '', ' ', t('c.wa.closed.help')),
          wa.templates.length ? templateForm(wa.templates) : h('p', t('c.wa.notemplates')),
          r.fallback ? h('label.check', h('input', { type: 'checkbox', name: 'via', value: r.fallback,
                                                     on: { change: function (e) { via = e.target.checked ? r.fallback : null; } } }),
                         ' ', t('c.fallback.' + r.fallback)) : null]);
      } else if (r.channel === 'whatsapp' && wa) {
        append(channelNote, [h('p', channelTag('whatsapp'), ' ', t('c.wa.open', { when: when(wa.window_closes_at) }))]);
      } else if (r.channel === 'email' && r.email) {
        append(channelNote, [h('p', channelTag('email'), ' ',
          !r.email.to ? t('c.goes.email.none')
            : r.email.cc && r.email.cc.length ? t('c.goes.email.cc', { to: r.email.to, cc: r.email.cc.join(', ') })
            : t('c.goes.email', { to: r.email.to }))]);
      } else {
        append(channelNote, [h('p', channelTag(r.channel || tk.channel), ' ', t('c.goes.' + (r.channel || tk.channel)))]);
      }
    }

    function templateForm(templates) {
      var form = h('form.template', { on: { submit: function (e) {
        e.preventDefault();
        var params = (form.elements.params.value || '').split('\n').map(function (s) { return s.trim(); }).filter(Boolean);
        submitting(form, true);
        api('POST', '/tickets/' + tk.number + '/template', { use: form.elements.use.value, parameters: params })
          .then(function () { submitting(form, false); announce(t('c.wa.sent')); return load(); })
          .catch(function (err) { submitting(form, false); showError(form, err); });
      } } }, alertBox(),
        field(t('c.wa.template'), h('select', { name: 'use' }, templates.map(function (tp) {
          return h('option', { value: tp.use }, t('c.tpl.' + tp.use) + ' — ' + tp.name + ' (' + tp.language + ')');
        }))),
        field(t('c.wa.params'), h('textarea', { name: 'params', rows: 2 }), t('c.wa.params.hint')),
        h('button', { type: 'submit' }, t('c.wa.send')));
      return form;
    }

    function fill(text) {
      var req = tk.requester || {};
      return text.replace(/\{\{\s*customer\.name\s*\}\}/g, req.name || '')
                 .replace(/\{\{\s*customer\.email\s*\}\}/g, req.email || '')
                 .replace(/\{\{\s*ticket\.number\s*\}\}/g, tk.number)
                 .replace(/\{\{\s*ticket\.subject\s*\}\}/g, tk.subject)
                 .replace(/\{\{\s*agent\.name\s*\}\}/g, boot.user.name || '');
    }

    function drawReply() {
      var up = uploader();
      var stale = h('div.stale');
      var seen = tk.last_event_id;
      var form = h('form.reply-form', { novalidate: true });
      var body = h('textarea', { name: 'body', rows: 6, on: { input: function () {
        if (!typing) { typing = true; beat(); }
      }, keydown: function (e) {
        if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); send(false); }
      } } });
      var mode = h('fieldset.mode', h('legend.sr-only', t('c.mode')),
        h('label', h('input', { type: 'radio', name: 'visibility', value: 'public', checked: true }), ' ', t('c.mode.reply')),
        h('label', h('input', { type: 'radio', name: 'visibility', value: 'internal' }), ' ', t('c.mode.note')));
      var cannedSel = h('select', { name: 'canned', 'aria-label': t('c.canned'), on: { change: function () {
        var c = canned.filter(function (x) { return x.id === cannedSel.value; })[0];
        if (c) {
          body.value = (body.value ? body.value + '\n' : '') + fill(c.body);
          body.focus();
        }
        cannedSel.value = '';
      } } }, h('option', { value: '' }, t('c.canned')));
      var after = h('select', { name: 'after', 'aria-label': t('c.after') },
        h('option', { value: '' }, t('c.after.keep')),
        ['pending', 'resolved', 'on_hold'].map(function (s) { return h('option', { value: s }, t('c.after.' + s)); }));

      function send(force) {
        var vis = form.elements.visibility.value;
        if (vis === 'public' && tk.reply && tk.reply.available === false && !via) {
          return showError(form, { detail: t('c.wa.closed') + ' ' + t('c.wa.closed.help') });
        }
        submitting(form, true);
        up.ids().then(function (ids) {
          return api('POST', '/tickets/' + tk.number + '/replies', {
            body: body.value, visibility: vis, attachments: ids, seen_event_id: seen,
            via: vis === 'public' && via ? via : undefined,
            force: force || undefined, status: after.value || undefined });
        }).then(function () {
          submitting(form, false);
          body.value = '';
          up.clear();
          stale.textContent = '';
          typing = false;
          form.querySelector('.alert').textContent = '';
          announce(vis === 'internal' ? t('c.note.saved') : t('c.reply.sent'));
          return load().then(function () { seen = tk.last_event_id; });
        }).catch(function (err) {
          submitting(form, false);
          if (err.slug === 'stale-view') {
            load();
            stale.textContent = '';
            append(stale, [h('p', h('strong', t('c.stale'))),
              h('button', { type: 'button', on: { click: function () { seen = tk.last_event_id; send(true); } } }, t('c.stale.send')),
              ' ', h('button.secondary', { type: 'button', on: { click: function () { seen = tk.last_event_id; stale.textContent = ''; } } },
                     t('c.stale.review'))]);
            stale.querySelector('button').focus();
            return;
          }
          showError(form, err);
        });
      }

      form.addEventListener('submit', function (e) { e.preventDefault(); send(false); });
      append(form, [alertBox(), mode, field(t('c.reply'), body, t('c.reply.hint')),
        h('div.row', cannedSel, up.node), stale,
        h('div.row', after, h('button', { type: 'submit' }, t('c.send')))]);
      append(replyBox, [h('h2', t('c.reply')), channelNote, form]);
      drawChannelNote();
      api('GET', '/canned').then(function (r) {
        canned = r.data;
        canned.forEach(function (c) { cannedSel.appendChild(h('option', { value: c.id }, c.title)); });
      }).catch(function () {});
    }

    function uploader() {
      var files = [], list = h('ul.files');
      var input = h('input', { type: 'file', multiple: true, 'aria-label': t('c.attach'), on: { change: function () {
        Array.prototype.forEach.call(input.files, function (f) {
          var item = { li: h('li', f.name + ' …') };
          list.appendChild(item.li);
          files.push(item);
          item.p = api('POST', '/uploads', f, { raw: true, headers: {
            'Content-Type': f.type || 'application/octet-stream', 'X-Filename': encodeURIComponent(f.name) } })
            .then(function (u) { item.id = u.id; item.li.textContent = f.name + ' (' + size(u.size) + ')'; })
            .catch(function (err) { files.splice(files.indexOf(item), 1); item.li.textContent = f.name + ' — ' + message(err); });
        });
        input.value = '';
      } } });
      return {
        node: h('span.attach', h('label.button.secondary', input, t('c.attach')), list),
        ids: function () {
          return Promise.all(files.map(function (f) { return f.p; })).then(function () {
            return files.filter(function (f) { return f.id; }).map(function (f) { return f.id; });
          });
        },
        clear: function () { files = []; list.textContent = ''; }
      };
    }

    /* who else has it open; every 10 s, and at once when typing starts */
    function beat() {
      api('POST', '/tickets/' + number + '/presence', { typing: typing }).then(function (r) {
        viewers.textContent = r.viewers.length ? r.viewers.map(function (v) {
          return t(v.typing ? 'c.viewer.typing' : 'c.viewer', { name: v.name });
        }).join(' · ') : '';
        viewers.className = 'viewers' + (r.viewers.length ? ' on' : '');
        if (tk && r.last_event_id !== tk.last_event_id) load();
      }).catch(function () {});
    }

    function keys(e) {
      if (document.querySelector('dialog[open]')) return;
      if (e.key === 'Escape' && !(e.target.closest && e.target.closest('input, textarea, select'))) go('/');
    }

    current = {
      kind: 'ticket',
      changed: function (d) { if (tk && d.id === tk.id) load(); },
      leave: function () {
        clearInterval(heartbeat);
        document.removeEventListener('keydown', keys);
        api('POST', '/tickets/' + number + '/presence', { leaving: true }).catch(function () {});
      }
    };
    document.addEventListener('keydown', keys);

    view(number, [h('p.loading', t('c.loading'))], 'ticket');
    load().then(function () {
      view(tk.number + ' ' + tk.subject, [
        h('div.head', link('/', '← ' + t('c.queue'), '.back'),
          h('h1', h('span.num', tk.number), ' ', tk.subject), channelTag(tk.channel), badge('status', tk.status)),
        viewers,
        h('div.ticket-grid', h('div.conversation', h('h2.sr-only', t('c.history')), history, replyBox), side)], 'ticket');
      beat();
      heartbeat = setInterval(beat, 10000);
    }).catch(function (err) {
      if (err.status === 401) { boot.user = null; route(); return; }
      view(number, [h('h1', number), h('p.alert.error', message(err)), link('/', t('c.queue'))]);
    });
  }

  /* ---------- the agent's own account: password, second factor ---------- */

  function account(required) {
    var u = boot.user;
    var pw = h('form.card', { novalidate: true, on: { submit: function (e) {
      e.preventDefault();
      submitting(pw, true);
      api('POST', '/password', { current: pw.elements.current.value, password: pw.elements.password.value })
        .then(function () { submitting(pw, false); pw.reset(); showOk(pw, t('c.saved')); })
        .catch(function (err) { submitting(pw, false); showError(pw, err); });
    } } }, h('h2', t('c.account.password')), alertBox(),
      field(t('c.account.current'), h('input', { type: 'password', name: 'current', autocomplete: 'current-password' })),
      field(t('c.account.new'), h('input', { type: 'password', name: 'password', autocomplete: 'new-password', minLength: 8 }),
            t('c.password.hint')),
      h('button', { type: 'submit' }, t('c.save')));

    /* the signature on this agent's replies by email */
    var sig = h('form.card.signature', { novalidate: true, on: { submit: function (e) {
      e.preventDefault();
      submitting(sig, true);
      api('PATCH', '/profile', { signature: sig.elements.signature.value })
        .then(function (r) { submitting(sig, false); u.signature = sig.elements.signature.value = r.signature; showOk(sig, t('c.saved')); })
        .catch(function (err) { submitting(sig, false); showError(sig, err); });
    } } }, h('h2', t('c.account.signature')), alertBox(),
      field(t('c.account.signature.field'), h('textarea', { name: 'signature', rows: 4, maxLength: 1000,
                                                      value: u.signature || '' }),
            t('c.account.signature.hint')),
      h('button', { type: 'submit' }, t('c.save')));

    var second = h('section.card');
    function drawSecond() {
      second.textContent = '';
      append(second, [h('h2', t('c.totp')), h('p', u.totp ? t('c.totp.on') : t('c.totp.off'))]);
      var form = h('form', { novalidate: true }), shown = h('div.totp-setup');
      if (!u.totp) {
        append(second, [h('button', { type: 'button', on: { click: function () {
          api('POST', '/totp/setup', {}).then(function (r) {
            shown.textContent = '';
            append(shown, [h('img.qr', { src: r.qr, alt: t('c.totp.qr'), width: 200, height: 200 }),
              h('p', t('c.totp.manual'), ' ', h('code', r.secret))]);
            form.hidden = false;
            form.elements.code.focus();
          }).catch(function (err) { announce(message(err)); });
        } } }, t('c.totp.setup')), shown]);
        form.hidden = true;
      }
      form.addEventListener('submit', function (e) {
        e.preventDefault();
        submitting(form, true);
        api('POST', u.totp ? '/totp/disable' : '/totp/enable', { code: form.elements.code.value.trim() })
          .then(function () { return api('GET', '/boot'); })
          .then(function (b) { boot.user = u = b.user; if (required && u.totp) { go('/', true); return; } drawSecond(); })
          .catch(function (err) { submitting(form, false); showError(form, err); });
      });
      if (!(u.totp && u.totp_required)) {
        append(form, [alertBox(), field(t('c.totp.code'), h('input', { name: 'code', inputMode: 'numeric',
          autocomplete: 'one-time-code', maxLength: 6 }), t('c.totp.code.hint')),
          h('button', { type: 'submit' }, u.totp ? t('c.totp.disable') : t('c.totp.enable'))]);
        second.appendChild(form);
      }
    }
    drawSecond();
    view(t('c.account'), [h('h1', t('c.account')),
      required ? h('p.alert.error', { role: 'alert' }, t('c.totp.required')) : null,
      second, required ? null : sig, required ? null : pw], 'narrow');
  }
