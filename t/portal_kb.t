#!/usr/bin/env perl
# The knowledge base: articles in Markdown rendered safely, categories,
# full-text search in Portuguese, Spanish and English, suggestions while a
# ticket is typed, votes, and who may read what.
use utf8;
use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Helpdesk::Test;
use Helpdesk::Portal;

my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx(http => 'helpdesk_base_domain portal.test;',
                server => 'location / { helpdesk_portal; }');
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $globex = $t->create_tenant('globex');
my $h = $t->auth($acme->{key});
sub portal { Helpdesk::Portal->new($t, @_) }

# --- writing articles through the API -------------------------------------------
my $res = $ua->post($t->url('/v1/kb/categories') => $h => json => { slug => 'internet', name => 'Internet', position => 1 });
is $res->res->code, 201, 'a category';
is $ua->post($t->url('/v1/kb/categories') => $h => json => { slug => 'internet', name => 'Again' })->res->code, 409,
    'its slug is unique';
is $ua->post($t->url('/v1/kb/categories') => $h => json => { slug => 'Not A Slug', name => '' })->res->code, 422,
    'a bad slug and no name: 422';
$ua->post($t->url('/v1/kb/categories') => $h => json => { slug => 'faturas', name => 'Faturas', position => 2 });

my $md = <<'MD';
Se a internet caiu, **desligue** o roteador por 30 segundos.

1. Tire o roteador da tomada
2. Espere os roteadores reiniciarem

<script>alert('xss')</script>
<img src=x onerror="alert(1)">

[ajuda](javascript:alert(1)) e [site](https://example.com/ajuda)
MD
$res = $ua->post($t->url('/v1/kb/articles') => $h => json => {
    slug => 'reiniciar-roteador', title => 'Como reiniciar o roteador', category => 'internet',
    language => 'pt-BR', body => $md });
is $res->res->code, 201, 'an article in Portuguese';
is $res->res->json->{body}, $md, 'its Markdown kept as written';

$ua->post($t->url('/v1/kb/articles') => $h => json => {
    slug => 'factura-duplicada', title => 'Recibí una factura duplicada', category => 'faturas',
    language => 'es', body => 'Si recibió dos facturas del mismo mes, la segunda se anula automáticamente.' });
$ua->post($t->url('/v1/kb/articles') => $h => json => {
    slug => 'change-wifi-password', title => 'Changing the Wi-Fi password', category => 'internet',
    language => 'en', body => 'Open the router settings and choose a new password for your wireless network.' });
$ua->post($t->url('/v1/kb/articles') => $h => json => {
    slug => 'rascunho', title => 'Rascunho: roteador novo', language => 'pt-BR', visibility => 'draft',
    body => 'ainda não publicado sobre roteador' });
$ua->post($t->url('/v1/kb/articles') => $h => json => {
    slug => 'so-clientes', title => 'Configuração avançada do roteador', language => 'pt-BR',
    visibility => 'customers', body => 'Somente para clientes: portas do roteador.' });
is $ua->post($t->url('/v1/kb/articles') => $h => json => { slug => 'x', title => 'x', language => 'fr',
                                                             visibility => 'secret' })->res->code, 422,
    'an unknown language and visibility: 422';
is scalar @{ $ua->get($t->url('/v1/kb/articles') => $h)->res->json->{data} }, 5, 'listed for the tenant';

# --- reading, safely ------------------------------------------------------------
my $v = portal('acme.portal.test');
$res = $v->api(GET => '/kb/articles/reiniciar-roteador');
is $res->code, 200, 'a public article reads without logging in';
my $html = $res->json->{html};
like $html, qr{<strong>desligue</strong>}, 'Markdown rendered';
like $html, qr{<ol>\s*<li>Tire o roteador}, 'lists too';
unlike $html, qr{<script|onerror|<img}i, 'raw HTML dropped';
unlike $html, qr{javascript:}i, 'javascript: links emptied';
like $html, qr{<a href="https://example.com/ajuda">site</a>}, 'ordinary links kept';
is $res->json->{category}{slug}, 'internet', 'with its category';

is $v->api(GET => '/kb/articles/rascunho')->code, 404, 'a draft: 404';
is $v->api(GET => '/kb/articles/so-clientes')->code, 404, "a customers' article, to a visitor: 404";
is portal('globex.portal.test')->api(GET => '/kb/articles/reiniciar-roteador')->code, 404,
    "another tenant's article: 404";

$res = $v->api(GET => '/kb');
is_deeply [map { $_->{slug} } @{ $res->json->{categories} }], ['internet', 'faturas'], 'categories in their order';
is_deeply [map { $_->{slug} } @{ $res->json->{categories}[0]{articles} }], ['change-wifi-password', 'reiniciar-roteador'],
    'with their visible articles';
ok !(grep { $_->{slug} =~ /rascunho|so-clientes/ } map { @{ $_->{articles} } } @{ $res->json->{categories} }),
    'drafts and customer articles hidden from visitors';
is $res->json->{popular}[0]{slug}, 'reiniciar-roteador', 'the most read first';

my $c = portal('acme.portal.test');
$c->signup('ana@example.com', 'segredo123', 'Ana');
is $c->api(GET => '/kb/articles/so-clientes')->code, 200, "a customers' article, to a customer: 200";

# --- search in three languages ------------------------------------------------
sub found {
    my ($who, $q, %o) = @_;
    my $path = '/kb/search?q=' . Mojo::Util::url_escape(Mojo::Util::encode('UTF-8', $q)) . ($o{limit} ? "&limit=$o{limit}" : '');
    return [map { $_->{slug} } @{ $who->api(GET => $path)->json->{data} }];
}
is_deeply found($v, 'reiniciando roteadores'), ['reiniciar-roteador'], 'Portuguese stems: reiniciando/roteadores';
is_deeply found($v, 'facturas duplicadas'), ['factura-duplicada'], 'Spanish stems: facturas/duplicadas';
is_deeply found($v, 'changed passwords'), ['change-wifi-password'], 'English stems: changed/passwords';
is_deeply found($v, 'roteador'), ['reiniciar-roteador'], 'drafts are not found';
is_deeply [sort @{ found($c, 'roteador') }], ['reiniciar-roteador', 'so-clientes'], 'customers find their articles too';
is_deeply found($v, 'xyzzy plugh'), [], 'nothing found: an empty list';
$res = $v->api(GET => '/kb/search?q=' . Mojo::Util::url_escape('internet caiu'));
like $res->json->{data}[0]{snippet}, qr/\[\[internet\]\] \[\[caiu\]\]/, 'a snippet marks the words';

# suggestions while typing: any of the words will do
is_deeply found($c, 'minha internet caiu e não volta', limit => 5), ['reiniciar-roteador'],
    'a subject being typed suggests the article';
is_deeply found($c, 'rotead', limit => 5)->[0], 'reiniciar-roteador', 'even a word half typed';
is_deeply found($v, 'internet caiu e não volta de jeito nenhum'), ['reiniciar-roteador'],
    'a search with every word finding nothing falls back to any word';

# --- votes ------------------------------------------------------------------------
$res = $v->api(POST => '/kb/articles/reiniciar-roteador/vote', { helpful => Mojo::JSON::true });
is $res->code, 200, 'a visitor votes';
is $res->json->{helpful}, 1, 'counted';
is $v->api(POST => '/kb/articles/reiniciar-roteador/vote', { helpful => Mojo::JSON::true })->json->{helpful}, 1,
    'once per reader';
$res = $v->api(POST => '/kb/articles/reiniciar-roteador/vote', { helpful => Mojo::JSON::false });
is_deeply [$res->json->{helpful}, $res->json->{not_helpful}], [0, 1], 'a changed mind moves the vote';
is $c->api(POST => '/kb/articles/reiniciar-roteador/vote', { helpful => Mojo::JSON::true })->json->{helpful}, 1,
    'another reader counts';
is $v->api(GET => '/kb/articles/reiniciar-roteador')->json->{my_vote}, Mojo::JSON::false, 'a reader sees their vote';
is $v->api(POST => '/kb/articles/reiniciar-roteador/vote', { helpful => 'yes' })->code, 422, 'a vote must be true or false';
is $v->api(POST => '/kb/articles/rascunho/vote', { helpful => Mojo::JSON::true })->code, 404, 'no votes on drafts';
is $v->api(POST => '/kb/articles/reiniciar-roteador/vote', { helpful => Mojo::JSON::true }, 'X-CSRF-Token' => '')->code,
    403, 'votes are changes: CSRF checked';

# --- editing ------------------------------------------------------------------
$res = $ua->patch($t->url('/v1/kb/articles/reiniciar-roteador') => $h => json => {
    body => "Novo texto com <iframe src=x></iframe> e _ênfase_." });
is $res->res->code, 200, 'an article edited';
$html = $v->api(GET => '/kb/articles/reiniciar-roteador')->json->{html};
like $html, qr{<em>ênfase</em>}, 'rendered again';
unlike $html, qr{<iframe}, 'safely';
is_deeply found($v, 'ênfase'), ['reiniciar-roteador'], 'and searched by its new text';
$res = $ua->patch($t->url('/v1/kb/categories/internet') => $h => json => { name => 'Internet e Wi-Fi', position => 5 });
is $res->res->json->{name}, 'Internet e Wi-Fi', 'a category renamed';
is $v->api(GET => '/kb')->json->{categories}[-1]{name}, 'Internet e Wi-Fi', 'and moved after the others';
is scalar @{ $ua->get($t->url('/v1/kb/categories') => $h)->res->json->{data} }, 2, 'categories listed';

# --- categories and articles by id or by slug, within the tenant -------------------
my $art = $ua->get($t->url('/v1/kb/articles/reiniciar-roteador') => $h)->res->json;
is $ua->get($t->url("/v1/kb/articles/$art->{id}") => $h)->res->json->{slug}, 'reiniciar-roteador',
    'an article by its id';
my ($cat) = grep { $_->{slug} eq 'internet' } @{ $ua->get($t->url('/v1/kb/categories') => $h)->res->json->{data} };
is $ua->patch($t->url("/v1/kb/categories/$cat->{id}") => $h => json => { position => 6 })->res->json->{position}, 6,
    'a category by its id';
is $ua->patch($t->url('/v1/kb/categories/internet') => $h => json => { position => 5 })->res->json->{id}, $cat->{id},
    'and by its slug';
my $gh = $t->auth($globex->{key});
$ua->post($t->url('/v1/kb/categories') => $gh => json => { slug => 'globex-cat', name => 'Globex' });
$ua->post($t->url('/v1/kb/articles') => $gh => json => { slug => 'globex-art', title => 'Globex', body => 'x' });
is $ua->get($t->url('/v1/kb/articles/globex-art') => $h)->res->code, 404, "another tenant's article slug: 404";
is $ua->patch($t->url('/v1/kb/categories/globex-cat') => $h => json => { position => 1 })->res->code, 404,
    "another tenant's category slug: 404";
is $ua->get($t->url("/v1/kb/articles/$art->{id}") => $gh)->res->code, 404, "another tenant's article id: 404";
is $ua->delete($t->url("/v1/kb/categories/$cat->{id}") => $gh)->res->code, 404, "another tenant's category id: 404";
is $ua->get($t->url('/v1/kb/articles/no-such-article') => $h)->res->code, 404, 'an unknown slug: 404';
is $ua->get($t->url('/v1/kb/articles/00000000-0000-0000-0000-000000000000') => $h)->res->code, 404, 'an unknown id: 404';
is $ua->get($t->url('/v1/kb/articles/reiniciar-roteador') => $h)->res->json->{helpful}, 1, 'an article with its votes';
is $ua->delete($t->url('/v1/kb/articles/rascunho') => $h)->res->code, 204, 'an article deleted';
is $ua->delete($t->url('/v1/kb/categories/faturas') => $h)->res->code, 204, 'a category deleted';
is $v->api(GET => '/kb/articles/factura-duplicada')->json->{category}, undef, 'its articles stay, without it';
is_deeply [map { $_->{slug} } @{ $ua->get($t->url('/v1/kb/articles') => $t->auth($globex->{key}))->res->json->{data} }],
    ['globex-art'], 'another tenant lists none of it';

$t->done;
