#!/usr/bin/env perl
# Embeds the files under src/www into the module as a C table.
#
#   embed.pl SRC_DIR OUT.c
#
# Every file but the HTML pages is served at /_/assets/<dir>/<name>.<hash>.<ext>
# with a strong ETag and "immutable" caching: the hash is the first 8 hex
# digits of its SHA-256, so a changed file is a new URL.  HTML pages are
# templates the module fills in; "@asset(path)@" in them becomes the
# versioned URL of that file.  OUT.c is rewritten only when it changes, so
# an unchanged tree does not rebuild the module.
#
# A script may name another file by its versioned file name and its
# Subresource Integrity digest: "@file(path)@" becomes the last segment of
# that file's versioned URL ("widget.1a2b3c4d.js"), "@sri(path)@" its
# "sha384-..." (the chat loader names the widget so).  The named file must
# not name others in turn.
#
# Every text file served as it is (not an HTML template) also gets a gzip
# copy, made here once at the highest level, so nothing is compressed per
# request; it has its own strong ETag (a different representation).
#
# A script too long for one file is written in parts: "<dir>/<name>.parts"
# lists them (one file name a line, relative to <dir>; "#" comments), and
# "<dir>/<name>.js" is served as ONE script, the parts in that order inside
# one function ("use strict"), so they share one closure and define no
# global.  The parts and the list are not served themselves.
use strict;
use warnings;
use File::Find;
use Digest::SHA qw(sha256_hex sha384_base64);
use IO::Compress::Gzip qw(gzip $GzipError);

my ($src, $out) = @ARGV;
die "usage: embed.pl SRC_DIR OUT.c\n" unless $src && $out;

my %types = (js => 'application/javascript; charset=utf-8', css => 'text/css; charset=utf-8',
             json => 'application/json; charset=utf-8', html => 'text/html; charset=utf-8',
             svg => 'image/svg+xml', png => 'image/png', ico => 'image/x-icon',
             txt => 'text/plain; charset=utf-8');

my @files;
find({ no_chdir => 1, wanted => sub {
    return unless -f $_;
    my $rel = substr($_, length($src) + 1);
    return if $rel =~ /\.c$/ || $rel =~ m{(^|/)\.};
    push @files, $rel;
} }, $src);

sub slurp { open my $fh, '<:raw', $_[0] or die "$_[0]: $!"; local $/; return <$fh> }

my (%body, %url, %gz, %part, %joined);

for my $m (grep { /\.parts$/ } @files) {
    (my $js = $m) =~ s/\.parts$/.js/;
    my ($dir) = $m =~ m{^(.*/)?} ;
    $dir //= '';
    die "$m: $js exists as a file of its own\n" if grep { $_ eq $js } @files;
    my @parts = grep { /\S/ && !/^\s*#/ } split /\n/, slurp("$src/$m");
    die "$m: no parts\n" unless @parts;
    my $body = "(function () {\n'use strict';\n";
    for my $p (map { s/^\s+|\s+$//gr } @parts) {
        die "$m: $p: not a .js file beside it\n" unless $p =~ m{^[^/]+\.js$};
        die "$m: $p: listed twice (or in another list)\n" if $part{"$dir$p"}++;
        my $text = slurp("$src/$dir$p");
        $text .= "\n" unless $text =~ /\n\z/;
        $body .= $text;
    }
    $joined{$js} = $body . "}());\n";
    $part{$m} = 1;
}
@files = sort((grep { !$part{$_} } @files), keys %joined);

my $names = qr/\@(file|sri)\(([^)]+)\)\@/;

sub version {
    my ($f) = @_;
    my $h = substr(sha256_hex($body{$f}), 0, 8);
    (my $u = $f) =~ s/\.([^.\/]+)$/.$h.$1/;
    $url{$f} = "/_/assets/$u";
}

# The chat's scripts go on customers' pages, where every byte counts: the
# comments on lines of their own, the indentation and the blank lines are
# left out (nothing else: no string or regular expression spans a line).
sub compact {
    my ($js) = @_;
    $js =~ s{^[ \t]*/\*[^*]*\*+(?:[^/*][^*]*\*+)*/[ \t]*\n}{}gm;
    $js =~ s{^[ \t]+}{}gm;
    $js =~ s{\n{2,}}{\n}g;
    return $js;
}

for my $f (@files) {
    $body{$f} = $joined{$f} // slurp("$src/$f");
    $body{$f} = compact($body{$f}) if $f =~ m{^chat/[^/]+\.js$};
}

# files that name no other first, then those that do
for my $f (grep { !/\.html$/ } @files) {
    version($f) unless $body{$f} =~ $names;
}

for my $f (grep { !/\.html$/ && !$url{$_} } @files) {
    $body{$f} =~ s{$names}{
        my ($what, $n) = ($1, $2);
        die "$f: no such file (or it names others): $n\n" unless $url{$n};
        $what eq 'file' ? ($url{$n} =~ s{.*/}{}r)
                        # (a 48-byte digest: base64 without padding)
                        : 'sha384-' . sha384_base64($body{$n})
    }ge;
    version($f);
}

for my $f (grep { !/\.html$/ && $url{$_} && /\.(js|css|json|svg|txt)$/ } @files) {
    my $z;
    gzip(\$body{$f} => \$z, -Level => 9, Minimal => 1) or die "$f: $GzipError\n";
    $gz{$f} = $z if length($z) < length($body{$f});
}

for my $f (grep { /\.html$/ } @files) {
    $body{$f} =~ s{\@asset\(([^)]+)\)\@}{
        $url{$1} // die "$f: no such asset: $1\n"
    }ge;
}

sub c_string {
    my ($s) = @_;
    my $r = '';
    for my $chunk (unpack '(a64)*', $s) {
        $r .= "\n    \"" . join('', map {
            my $o = ord;
            $_ eq '"' ? '\\"' : $_ eq '\\' ? '\\\\' : $_ eq '?' ? '\\?'
            : ($o >= 32 && $o < 127) ? $_ : sprintf('\\%03o', $o)
        } split //, $chunk) . '"';
    }
    return $r eq '' ? '""' : $r;
}

my $c = "/* generated by src/tools/embed.pl from src/www: do not edit */\n\n"
      . "#include <ngx_config.h>\n#include <ngx_core.h>\n\n"
      . "#include \"ngx_helpdesk_www.h\"\n\n";
my $n = 0;
for my $f (@files) {
    $c .= "static const u_char  ngx_helpdesk_www_$n\[] =" . c_string($body{$f}) . ";\n\n";
    $c .= "static const u_char  ngx_helpdesk_www_${n}_gz\[] =" . c_string($gz{$f}) . ";\n\n"
        if defined $gz{$f};
    $n++;
}
$c .= "const ngx_helpdesk_www_file_t  ngx_helpdesk_www_files[] = {\n";
$n = 0;
for my $f (@files) {
    my ($ext) = $f =~ /\.([^.\/]+)$/;
    my $type = $types{$ext // ''} // 'application/octet-stream';
    my $tag = substr(sha256_hex($body{$f}), 0, 16);
    my $etag = qq{"$tag"};
    my $u = $url{$f} // '';
    my ($gzip, $gzip_etag) = ('ngx_null_string', 'ngx_null_string');
    if (defined $gz{$f}) {
        $gzip = "{ sizeof(ngx_helpdesk_www_${n}_gz) - 1, (u_char *) ngx_helpdesk_www_${n}_gz }";
        $gzip_etag = qq{ngx_string("\\"$tag-gz\\"")};
    }
    $c .= sprintf("    { ngx_string(\"%s\"), ngx_string(\"%s\"), ngx_string(\"%s\"),\n"
                . "      ngx_string(%s), { sizeof(ngx_helpdesk_www_%d) - 1,\n"
                . "      (u_char *) ngx_helpdesk_www_%d }, %d,\n"
                . "      %s,\n      %s },\n",
                  $f, $u, $type, c_string($etag) =~ s/^\n    //r, $n, $n, $u ne '' ? 1 : 0,
                  $gzip, $gzip_etag);
    $n++;
}
$c .= "    { ngx_null_string, ngx_null_string, ngx_null_string, ngx_null_string,\n"
    . "      ngx_null_string, 0, ngx_null_string, ngx_null_string }\n};\n";

if (-e $out && slurp($out) eq $c) {
    exit 0;
}
open my $fh, '>', "$out.tmp" or die "$out.tmp: $!";
print $fh $c;
close $fh;
rename "$out.tmp", $out or die "$out: $!";
