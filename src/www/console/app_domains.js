  /* app.parts: the admin's custom domains (/v1/domains): the portal on a
     name of the tenant's own.  A list with each name's state and why, its
     checks and its certificate; a form to add a name, then the DNS records
     to create, each with a copy button; "check now" (once a minute);
     removal after a confirmation.  Names still on their way (waiting for
     DNS, verified, being certified) are fetched again every 30 s while the
     page is open; every 2 s while one is verified or being certified (a
     matter of seconds) and for a minute after a name is added or checked,
     so the admin sees the outcome as it comes.  Everything from the API
     goes in as text. */

  var DOMAIN_MOVING = ['pending_dns', 'verified', 'issuing'];
  var DOMAIN_REFRESH = 30000;
  var DOMAIN_FAST = 2000;
  var DOMAIN_FAST_FOR = 60000;

  /* the check job's and the model's reasons, in the admin's language; any
     other text as the server wrote it */
  var DOMAIN_REASONS = {
    'not verified in 7 days': 'unverified',
    'DNS records broken for 30 days': 'broken',
    'removed': 'removed',
    'verified by the provider': 'provider',
    'another helpdesk proved this name first': 'taken',
    'certificate stored': 'stored'
  };

  /* why the API refused a name (its words, in English), in the admin's */
  var DOMAIN_PROBLEMS = [
    [/host name like/, 'empty'], [/253 characters/, 'long'], [/ASCII form/, 'idn'],
    [/wildcard/, 'wildcard'], [/IP address/, 'ip'], [/full name with a dot/, 'dot'],
    [/63 characters/, 'label'], [/letters, digits and hyphens/, 'ldh']
  ];

  function domainPath(host) {
    return '/v1/domains/' + encodeURIComponent(host);
  }

  function domainReason(reason) {
    if (!reason) return '';
    if (DOMAIN_REASONS.hasOwnProperty(reason)) return t('c.domain.reason.' + DOMAIN_REASONS[reason]);
    var m = reason.match(/^(proof-missing|points-elsewhere|caa-forbids|dns-error)(?::\s*([\s\S]*))?$/);
    if (m) return m[2] ? t('c.domain.reason.' + m[1], { detail: m[2] }) : t('c.domain.reason.' + m[1] + '.bare');
    return reason;
  }

  function domainProblem(fe) {
    var msg = fe.message || '', m, i;
    if (fe.code === 'taken') return t('c.domain.error.taken');
    if (fe.code === 'limit') return t('c.domain.error.limit');
    if (fe.code === 'reserved') {
      m = msg.match(/^names under (\S+) are/);
      return m ? t('c.domain.error.reserved', { zone: m[1] }) : msg;
    }
    for (i = 0; i < DOMAIN_PROBLEMS.length; i++) {
      if (DOMAIN_PROBLEMS[i][0].test(msg)) return t('c.domain.error.' + DOMAIN_PROBLEMS[i][1]);
    }
    return msg;
  }

  /* a refused name: what is wrong, under the field, in words */
  function domainError(form, err) {
    var fe = (err.errors || []).filter(function (e) { return e.field === 'hostname'; })[0];
    if (!fe && err.slug === 'domain-limit') fe = { code: 'limit' };
    if (!fe) return showError(form, err);
    var text = domainProblem(fe);
    showError(form, { slug: err.slug === 'conflict' || err.slug === 'domain-limit' ? 'domain' : err.slug,
                      detail: text, errors: [{ field: 'hostname', message: text }] });
  }

  /* one record to create: its type, name and value, each copied apart */
  function domainRecord(r) {
    var kind = r.type === 'CNAME' ? 'cname' : 'txt';
    return h('div.dns-record.' + kind,
      h('p.record-type', h('span.badge', r.type)),
      h('div.field', h('span.label', t('c.domain.record.name')),
        copyRow(r.name, t('c.domain.record.name') + ' (' + r.type + ')', '.record-name')),
      h('div.field', h('span.label', t(kind === 'cname' ? 'c.domain.record.target' : 'c.domain.record.value')),
        copyRow(r.value, t(kind === 'cname' ? 'c.domain.record.target' : 'c.domain.record.value') + ' (' + r.type + ')',
                '.record-value')));
  }

  /* the records the API says to create, with plain instructions */
  function domainRecords(d, heading) {
    var records = d.records || [];
    var cname = records.filter(function (r) { return r.type === 'CNAME'; })[0];
    var txt = records.filter(function (r) { return r.type === 'TXT'; })[0];
    return [
      heading,
      h('p', t('c.domain.records.intro', { host: d.hostname })),
      cname ? [h('h4', t('c.domain.records.cname.title')), h('p.hint', t('c.domain.records.cname')), domainRecord(cname)] : null,
      txt ? [h('h4', t(cname ? 'c.domain.records.txt.title' : 'c.domain.records.proof.title')),
             h('p.hint', t(cname ? 'c.domain.records.txt' : 'c.domain.records.proof')), domainRecord(txt)] : null,
      h('p.hint', t('c.domain.records.after'))
    ];
  }

  function domainWhen(iso) {
    return iso ? when(iso) : '';
  }

  function domainChecks(d) {
    var next = d.next_check_at ? new Date(d.next_check_at) : null;
    return [
      h('div.checked', d.checked_at ? t('c.domain.checked', { at: domainWhen(d.checked_at) }) : t('c.domain.checked.never')),
      next ? h('div.next.muted', next.getTime() <= Date.now() ? t('c.domain.next.now')
                                                             : t('c.domain.next', { at: domainWhen(d.next_check_at) })) : null
    ];
  }

  /* the certificate's summary (whatever of it the API gives), or none */
  function domainCert(c) {
    if (!c || typeof c !== 'object') return h('span.muted', t('c.domain.cert.none'));
    var out = [];
    if (c.not_after) out.push(h('div', t('c.domain.cert.until', { at: domainWhen(c.not_after) })));
    if (c.renew_after) out.push(h('div.muted', t('c.domain.cert.renew', { at: domainWhen(c.renew_after) })));
    if (c.not_before) out.push(h('div.muted', t('c.domain.cert.since', { at: domainWhen(c.not_before) })));
    var src = c.source ? 'c.domain.cert.source.' + c.source : null;
    if (src) out.push(h('div.muted', HD.has(src) ? t(src) : String(c.source)));
    if (c.generation) out.push(h('div.muted', t('c.domain.cert.generation', { n: c.generation })));
    return out.length ? out : h('span', t('c.domain.cert.present'));
  }

  function domainConfirm(d, yes) {
    var old = document.querySelector('dialog.domain-remove');
    if (old) old.remove();
    var dlg = h('dialog.domain-remove', { 'aria-labelledby': 'domain-remove-title', 'aria-describedby': 'domain-remove-text' },
      h('h2#domain-remove-title', t('c.domain.remove.title')),
      h('p#domain-remove-text', t('c.domain.remove.text', { host: d.hostname })),
      h('form.row', { method: 'dialog' },
        h('button.secondary.cancel', { type: 'submit', value: 'cancel' }, t('c.cancel')),
        h('button.danger.confirm', { type: 'submit', value: 'remove' }, t('c.domain.remove.yes'))));
    dlg.addEventListener('close', function () {
      var v = dlg.returnValue;
      dlg.remove();
      if (v === 'remove') yes();
    });
    document.body.appendChild(dlg);
    dlg.showModal();
    dlg.querySelector('button.cancel').focus();
  }

  function domainsAdmin(panel) {
    var list = null, rows = {}, notes = {}, opened = {}, added = null, timer = null;
    var lastLoad = 0, fastUntil = 0;
    var listBox = h('div.domain-list', h('p.loading', '…'));
    var addedBox = h('div.domain-added');

    var form = h('form.card.wide.domain-add', { novalidate: true, on: { submit: function (e) {
      e.preventDefault();
      var host = form.elements.hostname.value.trim();
      submitting(form, true);
      rest('POST', '/v1/domains', { hostname: host }).then(function (d) {
        submitting(form, false);
        form.querySelector('.alert').className = 'alert';
        form.querySelector('.alert').textContent = '';
        form.querySelectorAll('.field-error').forEach(function (x) { x.remove(); });
        form.elements.hostname.removeAttribute('aria-invalid');
        form.elements.hostname.value = '';
        added = d;
        fastUntil = Date.now() + DOMAIN_FAST_FOR;
        drawAdded();
        announce(t('c.domain.added', { host: d.hostname }));
        load();
      }).catch(function (err) { submitting(form, false); domainError(form, err); });
    } } }, h('h2', t('c.domain.add.title')), alertBox(),
      field(t('c.domain.hostname'), h('input', { name: 'hostname', autocomplete: 'off', spellcheck: false, maxLength: 253,
                                                 placeholder: t('c.domain.hostname.example'), required: true }),
            t('c.domain.hostname.hint')),
      h('button', { type: 'submit' }, t('c.domain.add')));

    function drawAdded() {
      addedBox.textContent = '';
      if (!added) return;
      append(addedBox, [h('section.card.wide.once.domain-records', { 'aria-labelledby': 'domain-records-title' },
        domainRecords(added, h('h3#domain-records-title', { tabindex: '-1' }, t('c.domain.records.title', { host: added.hostname }))),
        h('div.row', h('button.secondary', { type: 'button', on: { click: function () {
          added = null; drawAdded(); form.elements.hostname.focus();
        } } }, t('c.domain.records.done'))))]);
      addedBox.querySelector('h3').focus();
    }

    function checkNow(d) {
      notes[d.hostname] = { text: t('c.domain.check.asking'), at: Date.now() };
      redraw();
      rest('POST', domainPath(d.hostname) + '/check').then(function () {
        /* the note goes once the name's state changes */
        notes[d.hostname] = { text: t('c.domain.check.asked'), at: Date.now(), status: d.status };
        announce(notes[d.hostname].text);
        fastUntil = Date.now() + DOMAIN_FAST_FOR;
        return load(true);
      }).catch(function (err) {
        var n;
        if (err.status === 429) {
          n = parseInt(err.retryAfter, 10);
          if (!(n > 0)) n = parseInt(((err.detail || '').match(/(\d+)\s*s\b/) || [])[1], 10) || 60;
          notes[d.hostname] = { text: t('c.domain.check.wait', { n: n }), wait: true, at: Date.now() };
        } else {
          notes[d.hostname] = { text: message(err), error: true, at: Date.now() };
        }
        announce(notes[d.hostname].text);
        redraw();
      });
    }

    function remove(d) {
      domainConfirm(d, function () {
        rest('DELETE', domainPath(d.hostname)).then(function () {
          if (added && added.hostname === d.hostname) { added = null; drawAdded(); }
          delete notes[d.hostname];
          announce(t('c.domain.removed', { host: d.hostname }));
          return load();
        }).catch(function (err) {
          notes[d.hostname] = { text: message(err), error: true, at: Date.now() };
          redraw();
        });
      });
    }

    /* a domain's row, and under it (across the table) its records, shown
       on demand */
    function row(d) {
      var note = notes[d.hostname], id = 'records-' + d.hostname.replace(/[^a-z0-9-]/g, '_');
      var records = d.status === 'released' ? null
        : h('tr.records-row', { id: id, hidden: !opened[d.hostname], 'data-records': d.hostname },
            h('td', { colSpan: 5 }, h('div.records-body', domainRecords(d, null))));
      var toggle = records ? h('button.link.records-toggle', { type: 'button', 'aria-controls': id,
        'aria-expanded': opened[d.hostname] ? 'true' : 'false', on: { click: function () {
          opened[d.hostname] = !opened[d.hostname];
          records.hidden = !opened[d.hostname];
          main.classList.toggle('open', !!opened[d.hostname]);
          toggle.setAttribute('aria-expanded', opened[d.hostname] ? 'true' : 'false');
          toggle.textContent = t(opened[d.hostname] ? 'c.domain.records.hide' : 'c.domain.records.show');
        } } }, t(opened[d.hostname] ? 'c.domain.records.hide' : 'c.domain.records.show')) : null;
      var main = h('tr.domain' + (opened[d.hostname] ? '.open' : ''), { 'data-host': d.hostname },
        h('th.host', { scope: 'row' }, h('span.name', d.hostname), toggle ? h('div', toggle) : null),
        h('td.state', h('span.badge.domain-' + d.status, HD.has('c.domain.status.' + d.status) ? t('c.domain.status.' + d.status) : d.status),
          d.reason ? h('p.reason', domainReason(d.reason)) : null),
        h('td.checks', domainChecks(d)),
        h('td.cert', domainCert(d.certificate)),
        h('td.ops',
          d.status === 'released' ? null : h('button.secondary.check', { type: 'button',
            'aria-label': t('c.domain.check') + ' — ' + d.hostname, on: { click: function () { checkNow(d); } } }, t('c.domain.check')),
          ' ',
          h('button.link.remove', { type: 'button', 'aria-label': t('c.domain.remove') + ' — ' + d.hostname,
            on: { click: function () { remove(d); } } }, t('c.domain.remove')),
          h('p.note' + (note && note.wait ? '.wait' : '') + (note && note.error ? '.error' : ''), { role: 'status' },
            note ? note.text : '')));
      return records ? [main, records] : [main];
    }

    /* the table, keeping the rows that did not change (their open records,
       the focus on their buttons) */
    function drawList() {
      if (!list.length) {
        rows = {};
        listBox.textContent = '';
        listBox.appendChild(h('p.empty', t('c.domain.none')));
        return;
      }
      var keep = {};
      var body = h('tbody', list.map(function (d) {
        var key = JSON.stringify(d) + '|' + JSON.stringify(notes[d.hostname] || null);
        var trs = rows[d.hostname] && rows[d.hostname].key === key ? rows[d.hostname].trs : row(d);
        keep[d.hostname] = { key: key, trs: trs };
        return trs;
      }));
      rows = keep;
      var table = listBox.querySelector('table');
      if (table) {
        table.replaceChild(body, table.tBodies[0]);
      } else {
        listBox.textContent = '';
        listBox.appendChild(h('table.list.domains',
          h('thead', h('tr', ['c.domain.col.host', 'c.domain.col.status', 'c.domain.col.checks', 'c.domain.col.cert', '']
            .map(function (k) { return h('th', { scope: 'col' }, k ? t(k) : h('span.sr-only', t('c.domain.col.actions'))); }))),
          body));
      }
    }

    /* a row whose note changed is drawn again (the note is in its key) */
    function redraw() {
      if (list) drawList();
    }

    function load(quiet) {
      lastLoad = Date.now();
      return rest('GET', '/v1/domains').then(function (r) {
        var now = Date.now();
        list = r.data || [];
        Object.keys(notes).forEach(function (k) {
          var d = list.filter(function (x) { return x.hostname === k; })[0];
          if (now - notes[k].at > 90000 || (notes[k].status && d && d.status !== notes[k].status)) delete notes[k];
        });
        drawList();
      }).catch(function (err) {
        if (quiet && list) return;
        listBox.textContent = '';
        listBox.appendChild(h('p.alert.error', message(err)));
      });
    }

    append(panel, [h('p.hint.domain-intro', t('c.domain.intro')), form, addedBox,
                   h('h2', t('c.domain.list')), listBox]);
    load();

    /* while the page is open: the names on their way, fetched again */
    timer = setInterval(function () {
      var now = Date.now();
      if (!panel.isConnected) { clearInterval(timer); return; }
      if (document.hidden || !list) return;
      if (!list.some(function (d) { return DOMAIN_MOVING.indexOf(d.status) >= 0; })) return;
      if (now < fastUntil || now - lastLoad >= DOMAIN_REFRESH ||
          list.some(function (d) { return d.status === 'verified' || d.status === 'issuing'; })) load(true);
    }, DOMAIN_FAST);
  }
