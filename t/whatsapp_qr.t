# Click-to-chat: a wa.me link per connected number, and its QR code as PNG
# and SVG, which a phone's scanner reads back as the same link.
use strict;
use warnings;
use utf8;
use lib 't/lib';
use Test::More;
use Encode qw(encode_utf8 decode_utf8);
use Helpdesk::Test;

my $t = Helpdesk::Test->new->start_stack;
$t->start_nginx(http => 'helpdesk_outbox off;');
my $ua = $t->ua;
my $acme = $t->create_tenant('acme');
my $h = $t->auth($acme->{key});
my $dir = $t->dir;

my $conn = $ua->post($t->url('/v1/whatsapp/connections') => $h => json => {
    provider => '360dialog', display_phone_number => '+55 (11) 99999-0000', api_key => 'k' })->res->json;
is $conn->{click_to_chat_url}, 'https://wa.me/5511999990000', 'digits only, no +, spaces or brackets';

sub scan {
    my ($file) = @_;
    my $out = `zbarimg --raw -q $file 2>/dev/null`;
    chomp $out;
    return decode_utf8($out);
}

my $res = $ua->get($t->url("/v1/whatsapp/connections/$conn->{id}/qr.png") => $h)->res;
is $res->code, 200, 'PNG';
is $res->headers->content_type, 'image/png', 'typed';
is substr($res->body, 0, 8), "\x89PNG\r\n\x1a\n", 'a PNG file';
open my $fh, '>:raw', "$dir/qr.png" or die;
print $fh $res->body;
close $fh;
is scan("$dir/qr.png"), 'https://wa.me/5511999990000', 'scans back to the link';

$res = $ua->get($t->url("/v1/whatsapp/connections/$conn->{id}/qr.png?size=3&text=Ol%C3%A1%2C%20preciso%20de%20ajuda") => $h)->res;
open $fh, '>:raw', "$dir/qr2.png" or die;
print $fh $res->body;
close $fh;
is scan("$dir/qr2.png"), 'https://wa.me/5511999990000?text=Ol%C3%A1%2C%20preciso%20de%20ajuda',
    'with a prefilled message, percent-encoded';
is $res->headers->header('X-Click-To-Chat'), 'https://wa.me/5511999990000?text=Ol%C3%A1%2C%20preciso%20de%20ajuda',
    'the link is also in a header';

$res = $ua->get($t->url("/v1/whatsapp/connections/$conn->{id}/qr.png?size=40") => $h)->res;
open $fh, '>:raw', "$dir/qr40.png" or die;
print $fh $res->body;
close $fh;
is scan("$dir/qr40.png"), 'https://wa.me/5511999990000', 'the largest size scans too';
cmp_ok length($res->body), '<', 65536, sprintf('and stays small (%d bytes)', length $res->body);

$res = $ua->get($t->url("/v1/whatsapp/connections/$conn->{id}/qr.svg") => $h)->res;
is $res->code, 200, 'SVG';
is $res->headers->content_type, 'image/svg+xml', 'typed';
like $res->body, qr/^<\?xml.*<svg xmlns="http:\/\/www.w3.org\/2000\/svg" viewBox="0 0 \d+ \d+"/s, 'an SVG document';
open $fh, '>:raw', "$dir/qr.svg" or die;
print $fh $res->body;
close $fh;
system("rsvg-convert -w 400 -h 400 -b white -o $dir/qr-svg.png $dir/qr.svg");
is scan("$dir/qr-svg.png"), 'https://wa.me/5511999990000', 'rendered, it scans back to the link';

is $ua->get($t->url("/v1/whatsapp/connections/$conn->{id}/qr.png?size=99") => $h)->res->code, 422, 'size out of range';
is $ua->get($t->url("/v1/whatsapp/connections/$conn->{id}/qr.png?text=" . ('a' x 141)) => $h)->res->code, 422,
    'prefilled message over 140 characters';
my $globex = $t->create_tenant('globex');
is $ua->get($t->url("/v1/whatsapp/connections/$conn->{id}/qr.png") => $t->auth($globex->{key}))->res->code, 404,
    'not for another tenant';
is $ua->get($t->url("/v1/whatsapp/connections/$conn->{id}/qr.png"))->res->code, 401, 'not without a key';

$t->done;
