  /* app.parts: the unified queue, customers, a ticket for a caller */

  /* ---------- the queue ---------- */

  var filters = JSON.parse(sessionStorage.getItem('hd.filters') || 'null') ||
                { status: 'active', channel: '', priority: '', assignee: '', category: '', q: '', sort: 'updated' };

  function queue() {
    var table = h('div.queue-list', { role: 'region', 'aria-label': t('c.queue') });
    var count = h('p.count', { 'aria-live': 'polite' });
    var views = h('div.views');
    var known = null, selected = 0;
    var picked = {};    /* ticket number -> true: the rows chosen for a bulk change */
    var bulk = h('div.bulk', { role: 'region', 'aria-label': t('c.bulk') });

    function select(name, options, label) {
      return h('label.filter', h('span', label), h('select', { name: name, on: { change: function (e) {
        filters[name] = e.target.value;
        load();
      } } }, options.map(function (o) {
        return h('option', { value: o[0], selected: filters[name] === o[0] }, o[1]);
      })));
    }

    var search = h('input', { type: 'search', name: 'q', value: filters.q, placeholder: t('c.search'),
                              'aria-label': t('c.search'), on: { input: function () {
      clearTimeout(search.timer);
      search.timer = setTimeout(function () { filters.q = search.value.trim(); load(); }, 300);
    } } });

    var bar = h('div.filters',
      h('div.search', search),
      select('status', [['active', t('c.status.active')], ['', t('c.all')]].concat(
        STATUSES.map(function (s) { return [s, t('c.status.' + s)]; })), t('c.filter.status')),
      select('channel', [['', t('c.all')]].concat(CHANNELS.map(function (c) { return [c, t('c.channel.' + c)]; })),
             t('c.filter.channel')),
      select('priority', [['', t('c.all')]].concat(PRIORITIES.map(function (p) { return [p, t('c.priority.' + p)]; })),
             t('c.filter.priority')),
      select('category', [['', t('c.all')]].concat(categories().map(function (c) { return [c[0], c[1]]; })),
             t('c.filter.category')),
      select('assignee', [['', t('c.anyone')], ['mine', t('c.mine')], ['unassigned', t('c.unassigned')]].concat(
        (boot.agents || []).map(function (a) { return [a.id, a.name]; })), t('c.filter.assignee')),
      select('sort', [['updated', t('c.sort.updated')], ['priority', t('c.sort.priority')], ['age', t('c.sort.age')]],
             t('c.sort')),
      h('button.secondary', { type: 'button', on: { click: saveView } }, t('c.view.save')));

    function saveView() {
      var name = prompt(t('c.view.name'));
      if (!name) return;
      api('POST', '/views', { name: name, filters: filters }).then(loadViews).catch(function (err) { announce(message(err)); });
    }

    function loadViews() {
      api('GET', '/views').then(function (r) {
        views.textContent = '';
        if (!r.data.length) return;
        append(views, [h('span.label', t('c.views')), r.data.map(function (v) {
          return h('span.view', h('button.link', { type: 'button', on: { click: function () {
            filters = Object.assign({}, filters, v.filters);
            queue();
          } } }, v.name), h('button.link.remove', { type: 'button', 'aria-label': t('c.view.delete', { name: v.name }),
            on: { click: function () { api('DELETE', '/views/' + v.id).then(loadViews); } } }, '×'));
        })]);
      }).catch(function () {});
    }

    function load(fromStream) {
      sessionStorage.setItem('hd.filters', JSON.stringify(filters));
      var qs = Object.keys(filters).filter(function (k) { return filters[k]; }).map(function (k) {
        return k + '=' + encodeURIComponent(filters[k]);
      }).join('&');
      return api('GET', '/queue?' + qs).then(function (r) {
        var fresh = [];
        if (known) r.data.forEach(function (tk) { if (!known[tk.id + tk.updated_at]) fresh.push(tk); });
        known = {};
        r.data.forEach(function (tk) { known[tk.id + tk.updated_at] = true; });
        draw(r, fromStream ? fresh : []);
        if (fromStream && fresh.length) {
          announce(fresh.length === 1 ? t('c.updated.one', { number: fresh[0].number }) : t('c.updated.n', { n: fresh.length }));
        }
      }).catch(function (err) {
        if (err.status === 401) { boot.user = null; route(); return; }
        table.textContent = message(err);
      });
    }

    function draw(r, fresh) {
      var isFresh = {};
      fresh.forEach(function (tk) { isFresh[tk.id] = true; });
      /* a live redraw must not take the keyboard's place away: remember
         which row's link or checkbox had the focus, and give it back */
      var had = document.activeElement, focusRow = null, focusKind = null;
      if (had && table.contains(had) && had.closest('tr[data-number]')) {
        focusRow = had.closest('tr[data-number]').getAttribute('data-number');
        focusKind = had.matches('input') ? 'td.pick input' : had.closest('td.subj') ? 'td.subj a'
                  : had.closest('td.who') ? 'td.who a' : 'td.num a';
      } else if (had && table.contains(had) && had.matches('th.pick input')) {
        focusKind = 'th.pick input';
      }
      count.textContent = t('c.count', { n: r.total });
      table.textContent = '';
      if (!r.data.length) {
        table.appendChild(h('p.empty', t('c.empty')));
        if (HD.chat) HD.chat.decorate();
        return;
      }
      var shown = {};
      r.data.forEach(function (tk) { shown[tk.number] = true; });
      Object.keys(picked).forEach(function (n) { if (!shown[n]) delete picked[n]; });
      var rows = r.data.map(function (tk, i) {
        return h('tr' + (isFresh[tk.id] ? '.fresh' : '') + (picked[tk.number] ? '.picked' : ''),
                 { 'data-i': i, 'data-number': tk.number },
          h('td.pick', h('input', { type: 'checkbox', value: tk.number, checked: !!picked[tk.number],
                                    'aria-label': t('c.pick', { number: tk.number }),
                                    on: { change: function (e) { pick(tk.number, e.target.checked); } } })),
          h('td.num', link('/tickets/' + tk.number, tk.number)),
          h('td', channelTag(tk.channel)),
          h('td.subj', link('/tickets/' + tk.number, tk.subject)),
          h('td.who', tk.requester ? link('/customers/' + tk.requester.id,
                                         tk.requester.name || tk.requester.email || tk.requester.phone || '—') : ''),
          h('td', badge('status', tk.status)),
          h('td', badge('priority', tk.priority)),
          h('td', tk.assignee ? tk.assignee.name : h('span.muted', t('c.unassigned'))),
          h('td.age', h('time', { dateTime: tk.created_at, title: when(tk.created_at) }, age(tk.created_at))));
      });
      var more = r.total > r.data.length ? h('p.more', t('c.shown', { n: r.data.length, total: r.total }), ' ',
        r.data.length < 200 ? h('button.secondary', { type: 'button', on: { click: function () {
          filters.limit = String(Math.min(200, (parseInt(filters.limit || '100', 10) || 100) + 100));
          load(false);
        } } }, t('c.more')) : t('c.refine')) : null;
      table.appendChild(h('table.tickets',
        h('caption.sr-only', t('c.queue')),
        h('thead', h('tr', [h('th.pick', { scope: 'col' }, h('input', { type: 'checkbox', name: 'all',
            'aria-label': t('c.pick.all'), checked: r.data.every(function (tk) { return picked[tk.number]; }),
            on: { change: function (e) {
              r.data.forEach(function (tk) { pick(tk.number, e.target.checked); });
            } } }))].concat(['c.col.number', 'c.col.channel', 'c.col.subject', 'c.col.requester', 'c.col.status',
                            'c.col.priority', 'c.col.assignee', 'c.col.age'].map(function (k) {
          return h('th', { scope: 'col' }, t(k));
        })))),
        h('tbody', rows)));
      if (more) table.appendChild(more);
      var back = focusRow ? rows.filter(function (row) { return row.getAttribute('data-number') === focusRow; })[0] : null;
      if (back) {
        mark(rows.indexOf(back));
        back.querySelector(focusKind).focus();
      } else {
        mark(Math.min(selected, rows.length - 1));
        if (focusKind === 'th.pick input') table.querySelector(focusKind).focus();
      }
      drawBulk();
      if (HD.chat) HD.chat.decorate();
    }

    /* ---- bulk changes: the same status, priority or assignee for the chosen rows ---- */

    function pick(number, on) {
      if (on) picked[number] = true; else delete picked[number];
      table.querySelectorAll('td.pick input').forEach(function (c) {
        if (c.value === number) { c.checked = on; c.closest('tr').classList.toggle('picked', on); }
      });
      var all = table.querySelector('th.pick input');
      if (all) all.checked = [].every.call(table.querySelectorAll('td.pick input'), function (c) { return c.checked; });
      drawBulk();
    }

    function drawBulk() {
      var numbers = Object.keys(picked).sort();
      bulk.textContent = '';
      if (!numbers.length) return;
      function choice(name, label, options) {
        return h('label.filter', h('span', label), h('select', { name: name },
          [h('option', { value: '' }, t('c.bulk.keep'))].concat(options.map(function (o) {
            return h('option', { value: o[0] }, o[1]);
          }))));
      }
      var form = h('form.bulk-form', { on: { submit: function (e) {
        e.preventDefault();
        var body = { tickets: numbers };
        ['status', 'priority'].forEach(function (k) { if (form.elements[k].value) body[k] = form.elements[k].value; });
        var a = form.elements.assignee.value;
        if (a === 'none') body.assignee = null; else if (a) body.assignee = a;
        if (Object.keys(body).length === 1) { announce(t('c.bulk.none')); form.elements.status.focus(); return; }
        submitting(form, true);
        api('POST', '/bulk', body).then(function (r) {
          picked = {};
          var text = t('c.bulk.done', { n: r.updated.length });
          if (r.failed.length) {
            text += ' ' + t('c.bulk.failed', { n: r.failed.length }) + ' ' +
              r.failed.map(function (f) { return f.ticket + ': ' + f.reason; }).join('; ');
          }
          announce(text);
          load(false).then(function () {
            bulk.appendChild(h('p.alert' + (r.failed.length ? '.error' : '.ok'), text));
          });
        }).catch(function (err) { submitting(form, false); announce(message(err)); showError(form, err); });
      } } },
        alertBox(),
        h('strong.n', t('c.bulk.n', { n: numbers.length })),
        choice('status', t('c.filter.status'), STATUSES.map(function (v) { return [v, t('c.status.' + v)]; })),
        choice('priority', t('c.filter.priority'), PRIORITIES.map(function (v) { return [v, t('c.priority.' + v)]; })),
        choice('assignee', t('c.filter.assignee'), [[boot.user.id, t('c.me')], ['none', t('c.unassigned')]].concat(
          (boot.agents || []).filter(function (a) { return a.id !== boot.user.id; }).map(function (a) { return [a.id, a.name]; }))),
        h('button', { type: 'submit' }, t('c.bulk.apply')),
        h('button.secondary', { type: 'button', on: { click: function () {
          Object.keys(picked).forEach(function (n) { pick(n, false); });
        } } }, t('c.bulk.clear')));
      bulk.appendChild(form);
    }

    function mark(i) {
      var rows = table.querySelectorAll('tbody:not(.chat-rows) tr');
      if (!rows.length) return;
      selected = Math.max(0, Math.min(i, rows.length - 1));
      rows.forEach(function (r, j) { r.classList.toggle('selected', j === selected); });
    }

    function keys(e) {
      if (document.querySelector('dialog[open]')) return;
      if (e.target.closest && e.target.closest('input, textarea, select')) {
        if (e.key === 'Escape') e.target.blur();
        return;
      }
      var rows = table.querySelectorAll('tbody:not(.chat-rows) tr');
      if (e.key === '/') { e.preventDefault(); search.focus(); }
      else if (e.key === 'j' || e.key === 'ArrowDown') { e.preventDefault(); mark(selected + 1); rows[selected] && rows[selected].querySelector('a').focus(); }
      else if (e.key === 'k' || e.key === 'ArrowUp') { e.preventDefault(); mark(selected - 1); rows[selected] && rows[selected].querySelector('a').focus(); }
      else if (e.key === 'n') { e.preventDefault(); go('/new'); }
      else if (e.key === 'x' && rows[selected]) {
        e.preventDefault();
        var box = rows[selected].querySelector('td.pick input');
        pick(box.value, !box.checked);
      }
      else if (e.key === 'Enter' && rows[selected] && document.activeElement === document.body) {
        rows[selected].querySelector('a').click();
      }
    }

    var timer = null;
    document.addEventListener('keydown', keys);
    current = {
      kind: 'queue',
      changed: function () {
        clearTimeout(timer);
        timer = setTimeout(function () { load(true); }, 300);
      },
      leave: function () { document.removeEventListener('keydown', keys); clearTimeout(timer); }
    };

    view(t('c.queue'), [h('div.head', h('h1', t('c.queue')), count,
                          link('/new', t('c.new'), '.button')), bar, views, bulk, table], 'wide');
    loadViews();
    load(false);
  }

  function categories() {
    var f = (boot.form || []).filter(function (x) { return x.name === 'category'; })[0];
    return f ? (f.options || []).map(function (o) { return [o.value, local(o.label)]; }) : [];
  }

  /* ---------- customers ---------- */

  function customerTickets(list) {
    if (!list.length) return h('p.muted', t('c.other.none'));
    return h('table.tickets', h('caption.sr-only', t('c.cust.tickets')),
      h('thead', h('tr', ['c.col.number', 'c.col.channel', 'c.col.subject', 'c.col.status', 'c.col.age'].map(function (k) {
        return h('th', { scope: 'col' }, t(k));
      }))),
      h('tbody', list.map(function (tk) {
        return h('tr', h('td.num', link('/tickets/' + tk.number, tk.number)), h('td', channelTag(tk.channel)),
          h('td.subj', link('/tickets/' + tk.number, tk.subject)), h('td', badge('status', tk.status)),
          h('td.age', h('time', { dateTime: tk.created_at, title: when(tk.created_at) }, age(tk.created_at))));
      })));
  }

  /* the customer's phone and WhatsApp numbers, each once */
  function numbers(c) {
    var seen = {};
    return [c.phone].concat(c.whatsapp).filter(function (n) {
      var d = (n || '').replace(/[^0-9]/g, '');
      if (!d || Object.keys(seen).some(function (s) { return s.slice(-d.length) === d || d.slice(-s.length) === s; })) return false;
      seen[d] = true;
      return true;
    });
  }

  function customers() {
    var q = sessionStorage.getItem('hd.customers.q') || '';
    var list = h('div.queue-list', { role: 'region', 'aria-label': t('c.customers') });
    var count = h('p.count', { 'aria-live': 'polite' });
    var search = h('input', { type: 'search', name: 'q', value: q, placeholder: t('c.cust.search'),
                              'aria-label': t('c.cust.search'), on: { input: function () {
      clearTimeout(search.timer);
      search.timer = setTimeout(function () { q = search.value.trim(); load(); }, 300);
    } } });

    function load() {
      sessionStorage.setItem('hd.customers.q', q);
      api('GET', '/customers' + (q ? '?q=' + encodeURIComponent(q) : '')).then(function (r) {
        count.textContent = t('c.cust.count', { n: r.total });
        list.textContent = '';
        if (!r.data.length) { list.appendChild(h('p.empty', t('c.cust.none'))); return; }
        list.appendChild(h('table.tickets.customers', h('caption.sr-only', t('c.customers')),
          h('thead', h('tr', ['c.cust.name', 'c.cust.email', 'c.cust.numbers', 'c.cust.open', 'c.cust.total', 'c.cust.last']
            .map(function (k) { return h('th', { scope: 'col' }, t(k)); }))),
          h('tbody', r.data.map(function (c) {
            return h('tr',
              h('td.subj', link('/customers/' + c.id, label(c))),
              h('td', c.email || ''), h('td', numbers(c).join(' · ')),
              h('td', String(c.tickets.open)), h('td', String(c.tickets.total)),
              h('td.age', c.tickets.last_at ? h('time', { dateTime: c.tickets.last_at, title: when(c.tickets.last_at) },
                                                age(c.tickets.last_at)) : '—'));
          }))));
      }).catch(function (err) {
        if (err.status === 401) { boot.user = null; route(); return; }
        list.textContent = message(err);
      });
    }

    current = { kind: 'customers' };
    view(t('c.customers'), [h('div.head', h('h1', t('c.customers')), count),
                            h('div.filters', h('div.search', search)), list], 'wide');
    load();
  }

  function label(c) {
    return c.name || c.email || c.phone || (c.whatsapp && c.whatsapp[0]) || '—';
  }

  /* a duplicate of this customer (the same person on another channel)
     merged into this one: their tickets and contacts move here */
  function mergeBox(c) {
    var results = h('ul.merge-results', { 'aria-live': 'polite' });
    var box = h('section.card.merge', h('h2', t('c.cust.merge')), h('p.muted', t('c.cust.merge.hint')), alertBox());
    var search = h('input', { type: 'search', name: 'merge-q', placeholder: t('c.cust.search'),
                              'aria-label': t('c.cust.merge.search'), on: { input: function () {
      clearTimeout(search.timer);
      search.timer = setTimeout(find, 300);
    } } });

    function find() {
      var q = search.value.trim();
      results.textContent = '';
      if (q.length < 2) return;
      api('GET', '/customers?limit=10&q=' + encodeURIComponent(q)).then(function (r) {
        results.textContent = '';
        r.data.filter(function (o) { return o.id !== c.id; }).forEach(function (o) {
          results.appendChild(h('li', h('span', h('strong', label(o)), ' ',
            h('span.muted', [o.email].concat(numbers(o)).filter(Boolean).join(' · '),
              ' · ', t('c.cust.summary', { open: o.tickets.open, total: o.tickets.total }))), ' ',
            h('button.secondary', { type: 'button', on: { click: function (e) {
              if (!confirm(t('c.cust.merge.confirm', { other: label(o), name: label(c) }))) return;
              e.target.disabled = true;
              api('POST', '/customers/' + o.id + '/merge', { into: c.id }).then(function () {
                announce(t('c.cust.merge.done', { other: label(o) }));
                customer(c.id);
              }).catch(function (err) { e.target.disabled = false; showError(box, err); });
            } } }, t('c.cust.merge.button'))));
        });
        if (!results.children.length) results.appendChild(h('li.muted', t('c.cust.none')));
      }).catch(function (err) { showError(box, err); });
    }

    append(box, [search, results]);
    return box;
  }

  function customer(id) {
    view(t('c.customers'), [h('p', { role: 'status' }, t('c.loading'))]);
    api('GET', '/customers/' + id).then(function (c) {
      var form = h('form.card', { novalidate: true, on: { submit: function (e) {
        e.preventDefault();
        submitting(form, true);
        api('PATCH', '/customers/' + id, { name: form.elements.name.value, email: form.elements.email.value,
                                           phone: form.elements.phone.value })
          .then(function () { announce(t('c.saved')); customer(id); })
          .catch(function (err) { submitting(form, false); showError(form, err); });
      } } }, alertBox(), h('h2', t('c.cust.details')),
        h('div.grid2',
          field(t('c.cust.name'), h('input', { name: 'name', value: c.name || '', maxLength: 200, autocomplete: 'off' })),
          field(t('c.cust.phone'), h('input', { name: 'phone', type: 'tel', value: c.phone || '', maxLength: 40, autocomplete: 'off' })),
          field(t('c.cust.email'), h('input', { name: 'email', type: 'email', value: c.email || '', autocomplete: 'off' }),
                c.portal_account ? t('c.cust.portal.yes') : t('c.cust.portal.no'))),
        c.whatsapp.length ? h('p', channelTag('whatsapp'), ' ', c.whatsapp.join(' · ')) : null,
        h('button', { type: 'submit' }, t('c.save')));
      current = { kind: 'customer' };
      view(c.name || c.email || c.phone || t('c.customers'), [
        h('div.head', link('/customers', '← ' + t('c.customers'), '.back'),
          h('h1', label(c)),
          h('p.count', t('c.cust.summary', { open: c.tickets.open, total: c.tickets.total }))),
        form, h('h2', t('c.cust.tickets')), customerTickets(c.ticket_list),
        h('h2', t('c.chat.history')), HD.chatRecord.customerChats(c.id), mergeBox(c)], 'form-page');
    }).catch(function (err) {
      if (err.status === 401) { boot.user = null; route(); return; }
      if (err.problem && err.problem.merged_into) { go('/customers/' + err.problem.merged_into, true); return; }
      view(t('c.customers'), [h('h1', t('c.customers')), h('p.alert.error', message(err)),
                              link('/customers', t('c.customers'))]);
    });
  }

  /* ---------- a ticket for a customer who called ---------- */

  /* Opened through the REST API with the console's session: the same checks
     and the same ticket service as any other ticket, on the "phone" channel. */
  function newTicket() {
    var form = h('form.card', { novalidate: true, on: { submit: function (e) {
      e.preventDefault();
      var el = form.elements, body = {};
      ['subject', 'description', 'priority', 'requester_name', 'requester_email', 'requester_phone'].forEach(function (k) {
        if (el[k].value.trim()) body[k] = el[k].value.trim();
      });
      if (el.category.value) body.category = el.category.value;
      if (el.assignee.value) body.assignee = el.assignee.value;
      var missing = [];
      if (!body.requester_email && !body.requester_phone) {
        missing.push({ field: 'requester_email', message: t('c.new.contact.missing') });
      }
      if (!body.subject) missing.push({ field: 'subject', message: t('c.new.required') });
      if (!body.description) missing.push({ field: 'description', message: t('c.new.required') });
      if (missing.length) { showError(form, { status: 422, slug: 'validation-error', errors: missing }); return; }
      submitting(form, true);
      rest('POST', '/v1/tickets', body).then(function (tk) {
        announce(t('c.new.done', { number: tk.number }));
        go('/tickets/' + tk.number);
      }).catch(function (err) { submitting(form, false); showError(form, err); });
    } } },
      alertBox(),
      h('fieldset', h('legend', t('c.new.customer')),
        h('div.grid2',
          field(t('c.new.name'), h('input', { name: 'requester_name', autocomplete: 'off', maxLength: 200 })),
          field(t('c.new.phone'), h('input', { name: 'requester_phone', type: 'tel', autocomplete: 'off', maxLength: 40 })),
          field(t('c.new.email'), h('input', { name: 'requester_email', type: 'email', autocomplete: 'off' }),
                t('c.new.contact')))),
      field(t('c.new.subject'), h('input', { name: 'subject', required: true, maxLength: 200 })),
      field(t('c.new.description'), h('textarea', { name: 'description', rows: 6, required: true })),
      h('div.grid3',
        field(t('c.filter.priority'), h('select', { name: 'priority' }, PRIORITIES.map(function (v) {
          return h('option', { value: v, selected: v === 'normal' }, t('c.priority.' + v));
        }))),
        field(t('c.filter.category'), h('select', { name: 'category' },
          [h('option', { value: '' }, '—')].concat(categories().map(function (c) {
            return h('option', { value: c[0] }, c[1]);
          })))),
        field(t('c.filter.assignee'), h('select', { name: 'assignee' },
          [h('option', { value: boot.user.id }, t('c.me')), h('option', { value: '' }, t('c.unassigned'))].concat(
            (boot.agents || []).filter(function (a) { return a.id !== boot.user.id; }).map(function (a) {
              return h('option', { value: a.id }, a.name);
            }))))),
      h('div.actions', h('button', { type: 'submit' }, t('c.new.create')), ' ',
        link('/', t('c.cancel'))));
    current = { kind: 'new' };
    view(t('c.new'), [h('div.head', link('/', '← ' + t('c.queue'), '.back'), h('h1', t('c.new'))),
                      h('p.muted', t('c.new.intro')), form], 'form-page');
    form.elements.requester_name.focus();
  }
