  /* app.parts: the admin's groups page (/v1/groups): a group per card, its
     name and description, its members, who may be added; a new group last */

  function groupsAdmin(panel) {
    Promise.all([rest('GET', '/v1/groups'), api('GET', '/agents')]).then(function (r) {
      var groups = r[0].data, staff = r[1].data.filter(function (a) { return a.status === 'active'; });

      function card(g) {
        var form = h('form.card.wide.group', { novalidate: true, 'aria-label': g ? g.name : t('c.group.new'), on: { submit: function (e) {
          e.preventDefault();
          submitting(form, true);
          var body = { name: form.elements.name.value, description: form.elements.description.value };
          (g ? rest('PATCH', '/v1/groups/' + g.id, body) : rest('POST', '/v1/groups', body))
            .then(function () { admin(); announce(t('c.saved')); })
            .catch(function (err) { submitting(form, false); showError(form, err); });
        } } }, h('h2', g ? g.name : t('c.group.new')), alertBox(),
          field(t('c.group.name'), h('input', { name: 'name', value: g ? g.name : '', maxlength: 100, required: true })),
          field(t('c.group.description'), h('input', { name: 'description', value: g ? g.description : '', maxlength: 500 })),
          h('div.row', h('button', { type: 'submit' }, g ? t('c.save') : t('c.group.create')),
            g ? h('button.secondary', { type: 'button', on: { click: function () {
              if (!confirm(t('c.group.delete.confirm', { name: g.name }))) return;
              rest('DELETE', '/v1/groups/' + g.id).then(function () { admin(); announce(t('c.group.deleted')); })
                .catch(function (err) { announce(message(err)); });
            } } }, t('c.delete')) : null));
        if (!g) return form;

        var ids = g.members.map(function (m) { return m.id; });
        var members = g.members.length ? h('ul.members', g.members.map(function (m) {
          return h('li', h('span', (m.name || m.email) + ' · ' + t('c.role.' + m.role)), ' ',
            h('button.link', { type: 'button', 'aria-label': t('c.group.remove') + ' ' + (m.name || m.email), on: { click: function () {
              rest('DELETE', '/v1/groups/' + g.id + '/members/' + m.id)
                .then(function () { admin(); announce(t('c.saved')); })
                .catch(function (err) { announce(message(err)); });
            } } }, t('c.group.remove')));
        })) : h('p.hint', t('c.group.empty'));
        var others = staff.filter(function (a) { return ids.indexOf(a.id) < 0; });
        var pick = h('select', { name: 'user', 'aria-label': t('c.group.add') + ' — ' + g.name },
          h('option', { value: '' }, t('c.group.choose')),
          others.map(function (a) { return h('option', { value: a.id }, a.name || a.email); }));
        var add = h('div.row', pick, h('button.secondary', { type: 'button', disabled: !others.length, on: { click: function () {
          if (!pick.value) { pick.focus(); return; }
          rest('PUT', '/v1/groups/' + g.id + '/members/' + pick.value)
            .then(function () { admin(); announce(t('c.saved')); })
            .catch(function (err) { announce(message(err)); });
        } } }, t('c.group.add')));
        append(form, [h('h3', t('c.group.members', { n: g.members.length })), members, add]);
        return form;
      }

      append(panel, [h('p.hint', t('c.group.hint'))].concat(groups.map(card), [card(null)]));
    }).catch(function (err) { panel.textContent = message(err); });
  }
