  /* app.parts: the email channel: a mail in a ticket's history, and the
     admin's mailboxes (/v1/email/mailboxes) and threading setting */

  /* ---------- a mail in the history ---------- */

  function attachmentUrl(number, id) {
    return base + '/_/api/tickets/' + encodeURIComponent(number) + '/attachments/' + encodeURIComponent(id);
  }

  function person(p) {
    if (!p) return '';
    if (typeof p === 'string') return p;
    return p.name && p.address ? p.name + ' <' + p.address + '>' : p.address || p.name || '';
  }

  function people(list) {
    return (list || []).map(person).filter(Boolean).join(', ');
  }

  /*
   * The mail's HTML is the server's (the parser's allow-list: no scripts,
   * no styles, no event handlers, links http/https/mailto, images cid:
   * only).  It is still shown in a frame of its own, never in the
   * console's page: a sandbox without scripts (so nothing in it runs even
   * if the allow-list failed), no forms, no navigation of the console, its
   * links opened in a new tab; and a policy of its own on top of the
   * console's (which the frame inherits): no request but this console's
   * own files, so a remote image or font is never fetched.  The frame
   * keeps the console's origin (no scripts run in it) only so that the
   * console can size it to its text and its cid: images load from the
   * ticket's attachments with the agent's session.
   *
   * The HTML is parsed by DOMParser (an inert document: nothing runs,
   * nothing loads) to point cid: images at the attachments and to mark
   * the links; it reaches the frame as srcdoc.
   */
  var FRAME_CSP = "default-src 'none'; img-src 'self'; style-src 'self'; base-uri 'none'; form-action 'none'";

  function mailFrame(html, images, number) {
    var doc = new DOMParser().parseFromString(html, 'text/html');
    Array.prototype.forEach.call(doc.querySelectorAll('img'), function (img) {
      var m = /^cid:(.+)$/i.exec(img.getAttribute('src') || ''), id = m && images && images[m[1]];
      if (id) img.setAttribute('src', attachmentUrl(number, id));
      else img.removeAttribute('src');
    });
    Array.prototype.forEach.call(doc.querySelectorAll('a[href]'), function (a) {
      if (!/^(https?:|mailto:)/i.test(a.getAttribute('href'))) { a.removeAttribute('href'); return; }
      a.setAttribute('target', '_blank');
      a.setAttribute('rel', 'noopener noreferrer');
    });
    /* the frame's own head, built as nodes (the serializer escapes) */
    var head = doc.head, sheet = document.querySelector('link[rel=stylesheet]');
    head.textContent = '';
    [['meta', { charset: 'utf-8' }],
     ['meta', { 'http-equiv': 'Content-Security-Policy', content: FRAME_CSP }],
     ['meta', { name: 'referrer', content: 'no-referrer' }],
     sheet ? ['link', { rel: 'stylesheet', href: sheet.getAttribute('href') }] : null].forEach(function (x) {
      if (!x) return;
      var el = doc.createElement(x[0]);
      Object.keys(x[1]).forEach(function (k) { el.setAttribute(k, x[1][k]); });
      head.appendChild(el);
    });
    doc.documentElement.className = 'mail-doc';
    doc.body.className = 'mail-doc';
    var src = '<!doctype html>' + doc.documentElement.outerHTML;
    var frame = h('iframe.mail-html', { title: t('c.mail.html'), referrerPolicy: 'no-referrer' });
    frame.setAttribute('sandbox', 'allow-same-origin allow-popups allow-popups-to-escape-sandbox');
    frame.srcdoc = src;
    frame.addEventListener('load', function () {
      var d = frame.contentDocument;
      if (!d || !d.body) return;
      /* as tall as its text (measured in a frame made short first: a
         document fills at least its viewport), up to a long page; again
         once each image arrives */
      function fit() {
        frame.style.height = '1px';
        frame.style.height = Math.min(Math.max(d.documentElement.scrollHeight, 40), 1600) +
                             frame.offsetHeight - frame.clientHeight + 'px';
      }
      fit();
      Array.prototype.forEach.call(d.images, function (img) { img.addEventListener('load', fit); });
    });
    return frame;
  }

  /* the header lines, the text or the safe HTML, the original, the files */
  function mailBlock(ev, number) {
    var m = ev.email, files = ev.attachments || [], images = m.images || {};
    var shown = {};
    Object.keys(images).forEach(function (k) { shown[images[k]] = true; });
    var original = files.filter(function (a) { return a.source === 'email_original'; })[0];
    var rows = [['c.mail.from', person(m.from)], ['c.mail.to', people(m.to)], ['c.mail.cc', people(m.cc)],
                ['c.mail.subject', m.subject]].filter(function (r) { return r[1]; });
    return {
      head: h('dl.mail-head', rows.map(function (r) { return [h('dt', t(r[0])), h('dd', r[1])]; })),
      body: m.html ? mailFrame(m.html, images, number) : ev.body ? h('div.body', ev.body) : null,
      foot: h('p.mail-foot',
        m.trimmed ? h('span.muted', t('c.mail.trimmed')) : null, m.trimmed ? ' ' : null,
        original ? h('a.original', { href: attachmentUrl(number, original.id), download: 'original.eml' },
                     t('c.mail.original')) : null,
        (m.refused || []).length ? h('span.mail-refused', ' · ' + t('c.mail.refused', {
          files: m.refused.map(function (r) { return r.filename + ' (' + r.reason + ')'; }).join(', ') })) : null),
      /* what the list of files shows: not the original, nor the images
         already in the HTML */
      files: files.filter(function (a) { return a.source !== 'email_original' && !(m.html && shown[a.id]); })
    };
  }

  /* ---------- admin: mailboxes, threading ---------- */

  var RULE_WHEN = ['from_domain', 'subject', 'recipient'];

  function emailAdmin(panel, made) {
    Promise.all([rest('GET', '/v1/email/mailboxes'), rest('GET', '/v1/email/threading')]).then(function (r) {
      var boxes = r[0].data;

      /* the inbound URL, shown once: after creating or rotating */
      function once(address, url) {
        var input = h('input.inbound-url', { readOnly: true, value: url, 'aria-label': t('c.mail.url') });
        var copied = h('span.muted', { role: 'status' });
        return h('section.card.wide.once', { 'aria-labelledby': 'once-title' },
          h('h2#once-title', t('c.mail.url.once', { address: address })),
          h('p', t('c.mail.url.keep')),
          h('div.row', input, h('button.secondary.copy', { type: 'button', on: { click: function () {
            input.select();
            var done = function () { copied.textContent = t('c.mail.copied'); };
            if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(url).then(done, function () {});
            else if (document.execCommand('copy')) done();
          } } }, t('c.mail.copy')), copied),
          h('p.hint', t('c.mail.postfix')),
          h('pre.code.postfix', 'helpdesk  unix  -       n       n       -       4       pipe\n' +
            '  flags=Rq user=nobody argv=/usr/local/bin/helpdesk-mail ' + url));
      }

      function ruleRow(rule) {
        var w = (rule && rule.when) || {}, s = (rule && rule.set) || {}, key = Object.keys(w)[0] || 'from_domain';
        var row = h('li.rule',
          h('select', { name: 'when', 'aria-label': t('c.mail.rule.when') }, RULE_WHEN.map(function (k) {
            return h('option', { value: k, selected: k === key }, t('c.mail.rule.' + k));
          })),
          h('input', { name: 'value', value: w[key] || '', 'aria-label': t('c.mail.rule.value') }),
          h('span', '→'),
          h('input', { name: 'category', value: s.category || '', placeholder: t('c.field.category'),
                       'aria-label': t('c.field.category') }),
          h('select', { name: 'priority', 'aria-label': t('c.field.priority') },
            [['', t('c.mail.rule.keep', { field: t('c.field.priority') })]].concat(PRIORITIES.map(function (p) {
              return [p, t('c.priority.' + p)];
            })).map(function (o) { return h('option', { value: o[0], selected: o[0] === (s.priority || '') }, o[1]); })),
          h('select', { name: 'assignee', 'aria-label': t('c.field.assignee') },
            [['', t('c.unassigned')]].concat((boot.agents || []).map(function (a) { return [a.id, a.name]; }))
              .map(function (o) { return h('option', { value: o[0], selected: o[0] === (s.assignee || '') }, o[1]); })),
          h('button.link', { type: 'button', on: { click: function () { row.remove(); } } }, t('c.mail.rule.remove')));
        return row;
      }

      function readRules(list) {
        return Array.prototype.map.call(list.querySelectorAll('li.rule'), function (li) {
          var q = function (n) { return li.querySelector('[name=' + n + ']').value.trim(); };
          var when = {}, set = {};
          when[q('when')] = q('value');
          ['category', 'priority', 'assignee'].forEach(function (k) { if (q(k)) set[k] = q(k); });
          return { when: when, set: set };
        });
      }

      function card(m) {
        var rules = h('ol.rules', (m.rules || []).map(ruleRow));
        var form = h('form.card.wide.mailbox', { novalidate: true, 'aria-label': m.address, on: { submit: function (e) {
          e.preventDefault();
          var el = form.elements;
          submitting(form, true);
          rest('PATCH', '/v1/email/mailboxes/' + m.id, {
            name: el.name.value, enabled: el.enabled.checked,
            sender_limit: parseInt(el.sender_limit.value, 10) || 0,
            ignore: el.ignore.value.split(/[\s,]+/).filter(Boolean),
            rules: readRules(rules) })
            .then(function () { submitting(form, false); showOk(form, t('c.saved')); })
            .catch(function (err) { submitting(form, false); showError(form, err); });
        } } },
          h('h2', m.address, ' ', m.kind === 'inbound' ? h('span.badge.mail-push', t('c.mail.push'))
            : h('span.badge.health-' + ((m.health && m.health.state) || 'unknown'),
                t('c.mail.health.' + ((m.health && m.health.state) || 'unknown')))),
          m.health && m.health.reason ? h('p.hint', m.health.reason) : null,
          alertBox(),
          h('div.grid2', field(t('c.name'), h('input', { name: 'name', value: m.name || '', maxLength: 100 })),
            field(t('c.mail.limit'), h('input', { name: 'sender_limit', type: 'number', min: 1, max: 10000,
                                                   value: m.sender_limit }), t('c.mail.limit.hint'))),
          h('label.check', h('input', { type: 'checkbox', name: 'enabled', checked: m.enabled }), ' ', t('c.mail.enabled')),
          h('fieldset.rules-set', h('legend', t('c.mail.rules')), h('p.hint', t('c.mail.rules.hint')), rules,
            h('button.secondary', { type: 'button', on: { click: function () {
              rules.appendChild(ruleRow(null));
              rules.lastChild.querySelector('input').focus();
            } } }, t('c.mail.rule.add'))),
          field(t('c.mail.ignore'), h('textarea', { name: 'ignore', rows: 3, value: (m.ignore || []).join('\n') }),
                t('c.mail.ignore.hint')),
          h('div.row', h('button', { type: 'submit' }, t('c.save')),
            h('button.secondary.rotate', { type: 'button', on: { click: function () {
              if (!confirm(t('c.mail.rotate.confirm', { address: m.address }))) return;
              rest('PATCH', '/v1/email/mailboxes/' + m.id, { rotate_token: true }).then(function (x) {
                redraw({ address: m.address, url: x.inbound_url });
              }).catch(function (err) { showError(form, err); });
            } } }, t('c.mail.rotate')),
            h('button.secondary', { type: 'button', on: { click: function () {
              if (!confirm(t('c.mail.delete.confirm', { address: m.address }))) return;
              rest('DELETE', '/v1/email/mailboxes/' + m.id).then(function () { redraw(null); announce(t('c.saved')); })
                .catch(function (err) { showError(form, err); });
            } } }, t('c.delete'))));
        return form;
      }

      var create = h('form.card.wide.mailbox-new', { novalidate: true, on: { submit: function (e) {
        e.preventDefault();
        var el = create.elements;
        submitting(create, true);
        rest('POST', '/v1/email/mailboxes', { address: el.address.value.trim(), name: el.name.value.trim() })
          .then(function (x) { redraw({ address: x.address, url: x.inbound_url }); })
          .catch(function (err) { submitting(create, false); showError(create, err); });
      } } }, h('h2', t('c.mail.new')), h('p.hint', t('c.mail.new.hint')), alertBox(),
        h('div.grid2', field(t('c.email'), h('input', { name: 'address', type: 'email', required: true,
                                                       placeholder: 'suporte@example.com' })),
          field(t('c.name'), h('input', { name: 'name', maxLength: 100 }))),
        h('button', { type: 'submit' }, t('c.mail.create')));

      var threading = h('form.card.wide.threading', { on: { change: function () {
        rest('PUT', '/v1/email/threading', { closed_reply: threading.elements.closed_reply.value })
          .then(function () { showOk(threading, t('c.saved')); })
          .catch(function (err) { showError(threading, err); });
      }, submit: function (e) { e.preventDefault(); } } },
        h('h2', t('c.mail.threading')), alertBox(),
        h('fieldset', h('legend', t('c.mail.closed')), ['reopen', 'follow_up'].map(function (v) {
          return h('label.check', h('input', { type: 'radio', name: 'closed_reply', value: v,
                                              checked: r[1].closed_reply === v }), ' ', t('c.mail.closed.' + v));
        })));

      append(panel, [made && made.url ? once(made.address, made.url) : null,
        h('p.hint', t('c.mail.hint'))].concat(boxes.map(card), [create, threading]));
      var first = panel.querySelector('.once input');
      if (first) first.focus();
    }).catch(function (err) { panel.textContent = message(err); });

    function redraw(shown) {
      panel.textContent = '';
      emailAdmin(panel, shown);
    }
  }
