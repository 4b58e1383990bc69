/*
 * nginx-helpdesk agent console: the website chat's record.
 *
 * A customer's chats beside their tickets, one chat read-only with its
 * transcript, and the admin's chat settings with the snippet that puts the
 * widget on a site.  Everything goes through the REST API with the
 * console's session (<console>/_/rest/v1/chat/...), as the other settings
 * pages do; the page's shared pieces (view, link, badges) come from app.js
 * through HD.console when these are drawn.
 */
(function () {
  'use strict';

  var HD = window.HD, t = HD.t, h = HD.h, append = HD.append, when = HD.when,
      rest = HD.rest, message = HD.message, showError = HD.showError,
      showOk = HD.showOk, alertBox = HD.alertBox, field = HD.field,
      submitting = HD.submitting;

  var STATUSES = ['bot', 'queued', 'active', 'ended', 'converted'];

  function ui() { return HD.console; }

  function chatStatus(s) {
    return h('span.badge.chat-' + s, t('c.chat.status.' + s));
  }

  function who(c) {
    return (c.customer && (c.customer.name || c.customer.email)) || c.visitor.name || c.visitor.email
      || t('c.chat.visitor');
  }

  /* ---------- a customer's chats, beside their tickets ---------- */

  function customerChats(customerId) {
    var box = h('div.chat-list', { 'aria-live': 'polite' }, h('p.muted', t('c.loading')));
    rest('GET', '/v1/chat/conversations?limit=100&customer=' + encodeURIComponent(customerId)).then(function (r) {
      box.textContent = '';
      if (!r.data.length) { box.appendChild(h('p.muted', t('c.chat.none'))); return; }
      box.appendChild(h('table.tickets.chats', h('caption.sr-only', t('c.chat.history')),
        h('thead', h('tr', ['c.chat.col.date', 'c.col.status', 'c.col.assignee', 'c.chat.col.messages', 'c.chat.col.ticket', '']
          .map(function (k) { return h('th', { scope: 'col' }, k ? t(k) : ''); }))),
        h('tbody', r.data.map(function (c) {
          return h('tr',
            h('td', ui().channelTag('chat'), ' ', h('time', { dateTime: c.started_at }, when(c.started_at))),
            h('td', chatStatus(c.status)),
            h('td', c.agent ? (c.agent.name || c.agent.email) : '—'),
            h('td.num', String(c.message_count)),
            h('td', c.ticket ? ui().link('/tickets/' + c.ticket.number, c.ticket.number) : '—'),
            h('td', ui().link('/chats/' + c.id, t('c.chat.open'))));
        }))));
    }).catch(function (err) { box.textContent = message(err); });
    return box;
  }

  /* ---------- one chat, read-only ---------- */

  function transcript(id) {
    ui().view(t('c.chat.title'), [h('p', { role: 'status' }, t('c.loading'))]);
    rest('GET', '/v1/chat/conversations/' + encodeURIComponent(id)).then(function (c) {
      var back = c.customer ? ui().link('/customers/' + c.customer.id, '← ' + who(c), '.back')
                            : ui().link('/', '← ' + t('c.queue'), '.back');
      var facts = h('dl.chat-facts',
        h('dt', t('c.col.status')), h('dd', chatStatus(c.status)),
        h('dt', t('c.chat.col.date')), h('dd', h('time', { dateTime: c.started_at }, when(c.started_at)),
                                         c.ended_at ? ' – ' + when(c.ended_at) : ''),
        h('dt', t('c.col.assignee')), h('dd', c.agent ? (c.agent.name || c.agent.email) : '—'),
        h('dt', t('c.chat.col.ticket')), h('dd', c.ticket ? ui().link('/tickets/' + c.ticket.number, c.ticket.number) : '—'),
        c.page && c.page.url ? [h('dt', t('c.chat.page')), h('dd', h('code', c.page.url))] : null,
        Object.keys(c.prechat || {}).length ? [h('dt', t('c.chat.prechat')), h('dd', Object.keys(c.prechat).map(function (k) {
          return h('span.prechat', h('strong', k + ': '), String(c.prechat[k]), ' ');
        }))] : null);
      var list = h('ol.history.transcript', { 'aria-label': t('c.chat.transcript') }, c.messages.map(function (m) {
        var kind = m.kind === 'note' ? 'internal' : m.kind === 'event' ? 'system' : 'by-' + m.author.type;
        var data = m.data || {};
        var name = m.author.name || (data.agent && data.agent.name) || t('c.chat.author.' + m.author.type);
        /* files: upload ids as the widget sent them, or their details */
        var files = Array.isArray(data) ? data : Array.isArray(data.attachments) ? data.attachments : [];
        return h('li.event.' + kind,
          h('p.meta', h('strong', name), ' · ', h('time', { dateTime: m.created_at }, when(m.created_at)),
            m.kind === 'note' ? h('span.badge.internal', t('c.internal')) : null),
          m.kind === 'event'
            ? h('p.body.muted', HD.has('c.chat.event.' + (data.type || data.event))
                ? t('c.chat.event.' + (data.type || data.event)) : m.body || t('c.chat.event.other', { text: '' }))
            : h('div.body', m.body),
          files.map(function (a) {
            /* a file sent in the chat: the agent's download, by the session */
            var fname = (a && a.filename) || t('c.chat.file');
            var link = a && /^[0-9a-f-]{36}$/.test(a.upload_id || '') ? HD.base + '/_/chat/v1/file/' + a.upload_id : null;
            return h('p.muted', '📎 ', link ? h('a', { href: link, target: '_blank', rel: 'noopener noreferrer' }, fname) : fname);
          }));
      }));
      ui().view(t('c.chat.title'), [
        h('div.head', back, h('h1', t('c.chat.with', { name: who(c) })),
          h('p.count', t('c.chat.readonly'))),
        facts, h('h2', t('c.chat.transcript')),
        c.messages.length ? list : h('p.muted', t('c.chat.empty'))], 'form-page');
    }).catch(function (err) {
      ui().view(t('c.chat.title'), [h('h1', t('c.chat.title')), h('p.alert.error', message(err)),
                                    ui().link('/', t('c.queue'))]);
    });
  }

  /* ---------- the admin's chat settings ---------- */

  /* the script where the provider serves it (the API says where), else
     this host's */
  function snippet(s) {
    var src = typeof s.script_url === 'string' && /^https?:\/\//.test(s.script_url) ? s.script_url
      : location.protocol + '//' + location.host + '/chat/widget/chat.js';
    return '<script async src="' + src + '" data-tenant="' + s.tenant + '"></script>';
  }

  function copy(text, area) {
    function fallback() { area.select(); document.execCommand('copy'); }
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(fallback);
    }
    fallback();
    return Promise.resolve();
  }

  function settings(panel) {
    rest('GET', '/v1/chat/settings').then(function (s) {
      var rows = h('tbody');
      var n = 0;

      function prechatRow(f) {
        var i = n++;
        var fixed = f.name === 'name' || f.name === 'email';
        var tr = h('tr',
          h('td', h('input', { name: 'prechat_fields.' + i + '.name', value: f.name || '', readOnly: fixed,
                               'aria-label': t('c.chat.prechat.name'), pattern: '[a-z][a-z0-9_]*', maxLength: 40 })),
          h('td', h('input', { name: 'prechat_fields.' + i + '.label', value: f.label || '',
                               'aria-label': t('c.chat.prechat.label'), maxLength: 100,
                               placeholder: fixed ? t('c.chat.prechat.fixed.' + f.name) : '' })),
          h('td', h('input', { type: 'checkbox', name: 'prechat_fields.' + i + '.required', checked: !!f.required,
                               'aria-label': t('c.chat.prechat.required') })),
          h('td', h('button.link', { type: 'button', on: { click: function () { tr.remove(); } } }, t('c.delete'))));
        tr.setAttribute('data-row', String(i));
        rows.appendChild(tr);
      }

      function prechatFields() {
        return [].map.call(rows.querySelectorAll('tr'), function (tr) {
          var i = tr.getAttribute('data-row'), el = form.elements;
          var f = { name: el['prechat_fields.' + i + '.name'].value.trim(),
                    required: el['prechat_fields.' + i + '.required'].checked };
          var label = el['prechat_fields.' + i + '.label'].value.trim();
          if (label) f.label = label;
          return f;
        });
      }

      function num(name) {
        var v = form.elements[name].value.trim();
        return v === '' ? null : Number(v);
      }

      function check(name, label) {
        return h('label.check', h('input', { type: 'checkbox', name: name, checked: !!s[name] }), ' ', label);
      }

      function choice(name, label, values) {
        return field(label, h('select', { name: name }, values.map(function (v) {
          return h('option', { value: v, selected: v === s[name] }, t('c.chat.' + name + '.' + v));
        })));
      }

      function number(name, label, min, max, hint) {
        return field(label, h('input', { type: 'number', name: name, min: min, max: max, step: 1,
                                         value: s[name] === null ? '' : String(s[name]) }), hint);
      }

      var form = h('form.card.wide.chat-settings', { novalidate: true, on: { submit: function (e) {
        e.preventDefault();
        var el = form.elements;
        var body = {
          enabled: el.enabled.checked, colour: el.colour.value, position: el.position.value,
          icon: el.icon.value, title: el.title.value, greeting: el.greeting.value,
          waiting_message: el.waiting_message.value,
          allowed_origins: el.allowed_origins.value.split('\n').map(function (o) { return o.trim(); })
            .filter(Boolean),
          prechat_fields: prechatFields(),
          max_message_bytes: num('max_message_bytes'), max_chats_per_agent: num('max_chats_per_agent'),
          accept_timeout_seconds: num('accept_timeout_seconds'), reply_timeout_seconds: num('reply_timeout_seconds'),
          on_reply_timeout: el.on_reply_timeout.value, auto_ticket_minutes: num('auto_ticket_minutes'),
          transfer_allowed: el.transfer_allowed.checked, bot_enabled: el.bot_enabled.checked,
          bot_kb_suggestions: el.bot_kb_suggestions.checked, offline_form: el.offline_form.checked
        };
        submitting(form, true);
        rest('PUT', '/v1/chat/settings', body).then(function (r) {
          submitting(form, false);
          el.allowed_origins.value = r.allowed_origins.join('\n');
          form.querySelectorAll('.field-error').forEach(function (x) { x.remove(); });
          form.querySelectorAll('[aria-invalid]').forEach(function (x) { x.removeAttribute('aria-invalid'); });
          showOk(form, t('c.saved'));
        }).catch(function (err) {
          submitting(form, false);
          /* "allowed_origins.2": under the list, saying which line */
          (err.errors || []).forEach(function (fe) {
            var m = /^allowed_origins\.(\d+)$/.exec(fe.field || '');
            if (m) { fe.message = t('c.chat.origins.line', { n: Number(m[1]) + 1, text: fe.message }); fe.field = 'allowed_origins'; }
          });
          showError(form, err);
        });
      } } },
        h('h2', t('c.chat.look')), alertBox(),
        check('enabled', t('c.chat.enabled')),
        h('div.grid3',
          field(t('c.chat.colour'), h('input', { type: 'color', name: 'colour', value: s.colour })),
          choice('position', t('c.chat.position'), ['bottom-right', 'bottom-left']),
          choice('icon', t('c.chat.icon'), ['bubble', 'question', 'headset', 'wave'])),
        field(t('c.chat.window_title'), h('input', { name: 'title', value: s.title, maxLength: 80 })),
        field(t('c.chat.greeting'), h('textarea', { name: 'greeting', rows: 3, value: s.greeting, maxLength: 1000 })),
        field(t('c.chat.origins'), h('textarea.code', { name: 'allowed_origins', rows: 4,
                                                        value: s.allowed_origins.join('\n'),
                                                        placeholder: 'https://www.example.com' }),
              t('c.chat.origins.hint')),
        h('fieldset.prechat', h('legend', t('c.chat.prechat')),
          h('p.hint', t('c.chat.prechat.hint')),
          h('table.list', h('thead', h('tr', ['c.chat.prechat.name', 'c.chat.prechat.label', 'c.chat.prechat.required', '']
            .map(function (k) { return h('th', { scope: 'col' }, k ? t(k) : ''); }))), rows),
          h('button.secondary', { type: 'button', on: { click: function () {
            prechatRow({ name: '', required: false });
            rows.lastChild.querySelector('input').focus();
          } } }, t('c.chat.prechat.add'))),
        h('h2', t('c.chat.queue')),
        h('div.grid2',
          number('max_chats_per_agent', t('c.chat.max_chats'), 1, 20),
          number('accept_timeout_seconds', t('c.chat.accept_timeout'), 10, 600, t('c.chat.seconds')),
          number('reply_timeout_seconds', t('c.chat.reply_timeout'), 30, 86400, t('c.chat.seconds')),
          choice('on_reply_timeout', t('c.chat.on_reply_timeout'), ['requeue', 'ticket']),
          number('auto_ticket_minutes', t('c.chat.auto_ticket'), 1, 10080, t('c.chat.auto_ticket.hint')),
          number('max_message_bytes', t('c.chat.max_message'), 256, 65536, t('c.chat.bytes'))),
        field(t('c.chat.waiting'), h('textarea', { name: 'waiting_message', rows: 2, value: s.waiting_message, maxLength: 500 })),
        check('transfer_allowed', t('c.chat.transfer')),
        check('bot_enabled', t('c.chat.bot')),
        check('bot_kb_suggestions', t('c.chat.kb')),
        check('offline_form', t('c.chat.offline')),
        h('button', { type: 'submit' }, t('c.save')));

      s.prechat_fields.forEach(prechatRow);

      /* the chat's hours are the tenant's schedule for the channel "chat" */
      var hours = h('section.card.wide.chat-hours', h('h2', t('c.chat.hours')),
        h('p', s.open_now ? h('strong.ok', t('c.chat.open_now')) : h('strong.bad', t('c.chat.closed_now')), ' ',
          s.business_hours.always_open ? t('c.chat.always_open')
            : t('c.chat.schedule', { tz: s.business_hours.timezone })),
        h('p.hint', t('c.chat.hours.hint')));

      var code = snippet(s);
      var area = h('textarea.code.snippet', { name: 'snippet', rows: 2, readOnly: true, value: code,
                                              'aria-label': t('c.chat.snippet') });
      var install = h('section.card.wide.chat-install', h('h2', t('c.chat.snippet')),
        h('p.hint', t('c.chat.snippet.hint')), area,
        h('p', h('button.secondary', { type: 'button', on: { click: function (e) {
          copy(code, area).then(function () { e.target.textContent = t('c.chat.copied'); });
        } } }, t('c.chat.copy'))));

      append(panel, [install, form, hours]);
    }).catch(function (err) { panel.textContent = message(err); });
  }

  HD.chatRecord = { customerChats: customerChats, transcript: transcript, settings: settings, statuses: STATUSES };
})();
