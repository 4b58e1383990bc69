# WhatsApp media: downloaded after the ack by the outbox runner (two steps
# for the Cloud API, the host swapped for 360dialog v2, one step for v1),
# stored as attachments of the message's event, and served only to whom
# may see the ticket, as a download.
use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(hmac_sha256_hex sha256_hex);
use MIME::Base64 qw(encode_base64);
use Mojo::JSON qw(encode_json decode_json);
use Time::HiRes qw(sleep time);
use Helpdesk::Test qw(until_true);
use Helpdesk::FakeHTTP;

my $fake = Helpdesk::FakeHTTP->new
    ->mount('/graph' => cloud => token => 'tok', phone_number_id => 'PN1')
    ->mount('/cdn' => media => token => 'tok')
    ->mount('/d360' => '360dialog' => key => 'k360');
my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx(http => 'helpdesk_outbox interval=100ms backoff=200ms attempts=3;');
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});


my $tx = $ua->post($t->url('/v1/whatsapp/connections') => $h => json => {
    provider => 'cloud', display_phone_number => '+55 11 4000-1234', phone_number_id => 'PN1',
    access_token => 'tok', app_secret => 'sec', verify_token => 'v', base_url => $fake->url('/graph') });
is $tx->res->code, 201, 'a Cloud API number connected';
my $cloud = $tx->res->json;
$tx = $ua->post($t->url('/v1/whatsapp/connections') => $h => json => {
    provider => '360dialog', display_phone_number => '+55 11 4000-9999', api_key => 'k360',
    base_url => $fake->url('/d360') });
is $tx->res->code, 201, 'a 360dialog number connected';
my $d360 = $tx->res->json;
is_deeply [sort map { "$_->{method} $_->{path}" } @{ $fake->wait_for(2) }],
    ['GET /graph/PN1', 'POST /d360/v1/configs/webhook'], 'both checked with their providers';

sub post_to {
    my ($conn, $doc, $secret) = @_;
    my ($path) = $conn->{webhook_url} =~ m{(/whatsapp/.*)$};
    my $body = encode_json($doc);
    my %hd = ('Content-Type' => 'application/json');
    $hd{'X-Hub-Signature-256'} = 'sha256=' . hmac_sha256_hex($body, $secret) if $secret;
    return $ua->post("http://127.0.0.1:@{[$t->port]}$path" => \%hd => $body)->res;
}

sub envelope {
    my ($m) = @_;
    return { object => 'whatsapp_business_account', entry => [{ id => 'W', changes => [{ field => 'messages',
        value => { messaging_product => 'whatsapp', contacts => [{ profile => { name => 'Maria' }, wa_id => '5511988887777' }],
                   messages => [{ from => '5511988887777', timestamp => '' . int(time), %$m }] } }] }] };
}

my $png = "\x89PNG\r\n\x1a\n" . join('', map { chr($_ % 256) } 0 .. 4000) . "\x00end";

# Cloud API: id -> URL -> bytes, both with the token
$fake->script({ status => 200, body => encode_json({ url => $fake->url('/cdn/f1?mid=1&hash=x'),
                                                     mime_type => 'image/png', id => 'MEDIA1' }) },
              { status => 200, type => 'image/png', body_b64 => encode_base64($png, '') });
my $res = post_to($cloud, envelope({ id => 'wamid.M1', type => 'image',
    image => { id => 'MEDIA1', mime_type => 'image/png', sha256 => 'x', caption => 'print do erro' } }), 'sec');
is $res->code, 200, 'image message acknowledged at once';

my $tk = $ua->get($t->url('/v1/tickets?channel=whatsapp') => $h)->res->json->{data}[0];
my $att = until_true(sub {
    my $e = $ua->get($t->url("/v1/tickets/$tk->{id}/events") => $h)->res->json->{data};
    @{ $e->[0]{attachments} // [] } ? $e->[0]{attachments}[0] : undef });
ok $att, 'the image became an attachment of its event';
my @r = grep { $_->{path} =~ m{^/(graph/MEDIA1|cdn/f1)$} } @{ $fake->requests };
is_deeply [map { $_->{path} } @r], ['/graph/MEDIA1', '/cdn/f1'], 'looked up, then fetched';
is $r[1]{query}, 'mid=1&hash=x', 'from the URL given';
is $_->{headers}{authorization}, 'Bearer tok', "$_->{path} with the token" for @r;
is $att->{content_type}, 'image/png', 'stored type';
is $att->{size}, length($png), 'whole file';
like $att->{filename}, qr/^image-\d+\.png$/, 'a file name';

my $dl = $ua->get($t->url($att->{url}) => $h)->res;
is $dl->code, 200, 'downloaded through the API';
ok $dl->body eq $png, 'byte for byte';
like $dl->headers->content_disposition, qr/^inline; filename="image-\d+\.png"/, 'a real PNG: shown inline';
is $dl->headers->header('X-Content-Type-Options'), 'nosniff', 'nosniff';
is $dl->headers->content_type, 'image/png', 'with the type its bytes show';
is $t->psql(q{SELECT sha256 FROM helpdesk.attachments}), sha256_hex($png), 'checksum kept';

my $globex = $t->create_tenant('globex');
is $ua->get($t->url($att->{url}) => $t->auth($globex->{key}))->res->code, 404, 'not for another tenant';
(my $other = $att->{url}) =~ s/[0-9a-f]{12}$/000000000000/;
is $ua->get($t->url($other) => $h)->res->code, 404, 'an unknown attachment is 404';
like $t->psql(q{SELECT count(*) FROM helpdesk.audit_log WHERE action = 'attachment.read'}), qr/^[12]$/,
    'downloads are audited';

# 360dialog v2: the lookaside URL is fetched from 360dialog's host, with its key
$fake->script({ status => 200, body => encode_json({ url => 'https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=9&ext=1',
                                                     mime_type => 'application/pdf' }) },
              { status => 200, type => 'application/pdf', body_b64 => encode_base64("%PDF-1.4 test", '') });
is post_to($d360, envelope({ id => 'wamid.M2', type => 'document',
    document => { id => 'MEDIA2', mime_type => 'application/pdf', filename => 'fatura março.pdf' } }))->code, 200,
    'a document message acknowledged';
ok until_true(sub { $t->psql(q{SELECT count(*) FROM helpdesk.attachments}) == 2 }), 'the document arrived';
my @d = grep { $_->{path} =~ m{^/d360/(MEDIA2|whatsapp_business)} } @{ $fake->requests };
is_deeply [map { $_->{path} } @d], ['/d360/MEDIA2', '/d360/whatsapp_business/attachments/'], 'host swapped';
is $d[1]{query}, 'mid=9&ext=1', 'path and query kept';
is $_->{headers}{'d360-api-key'}, 'k360', 'with the 360dialog key' for @d;
my $doc = $t->psql(q{SELECT attachment_id || ' ' || ticket_id FROM helpdesk.attachments WHERE filename LIKE 'fatura%'});
my ($aid, $tid) = split / /, $doc;
$dl = $ua->get($t->url("/v1/tickets/$tid/attachments/$aid") => $h)->res;
is $dl->body, '%PDF-1.4 test', 'served';
like $dl->headers->content_disposition, qr/filename="fatura mar_o\.pdf"; filename\*=UTF-8''fatura%20mar%C3%A7o\.pdf/,
    'its name, safely';

# 360dialog v1: one step
$fake->script({ status => 200, type => 'audio/ogg', body_b64 => encode_base64("OggS voice", '') });
is post_to($d360, { contacts => [{ profile => { name => 'Rui' }, wa_id => '5531900000000' }],
                 messages => [{ from => '5531900000000', id => 'gBGG1', timestamp => '' . int(time), type => 'audio',
                                audio => { id => 'a1b2c3d4-v1', mime_type => 'audio/ogg; codecs=opus' } }] })->code, 200,
    'a v1 voice note acknowledged';
ok until_true(sub { $t->psql(q{SELECT count(*) FROM helpdesk.attachments}) == 3 }), 'the v1 voice note arrived';
ok((grep { $_->{path} eq '/d360/v1/media/a1b2c3d4-v1' } @{ $fake->requests }), 'in one step');
is $t->psql(q{SELECT content_type FROM helpdesk.attachments WHERE filename LIKE 'audio-%'}), 'audio/ogg',
    'type without its parameters';

# a media id the provider no longer knows: no blind retries
$fake->script({ status => 404, body => '{"error":{"code":100,"message":"Unsupported get request"}}' });
my $n = scalar @{ $fake->requests };
is post_to($cloud, envelope({ id => 'wamid.M4', type => 'video', video => { id => 'GONE', mime_type => 'video/mp4' } }), 'sec')
    ->code, 200, 'a video message acknowledged';
ok until_true(sub { $t->psql(q{SELECT count(*) FROM helpdesk.outbox WHERE status = 'dead' AND payload->>'media_id' = 'GONE'}) == 1 }),
    'a refused download is given up';
ok $t->outbox_settled, 'the outbox is idle';
is_deeply [map { "$_->{method} $_->{path}" } @{ $fake->requests }[$n .. $#{ $fake->requests }]], ['GET /graph/GONE'],
    'after one request';

is_deeply [map { "$_->{method} $_->{path}: $_->{refused}" } @{ $fake->refused }], [], 'the providers refused nothing';
$fake->stop;
$t->done;
