#!/usr/bin/perl
# Turns a Lua script into a C string: embed_lua.pl <in.lua> <out.c> <name>
use strict;
use warnings;

my ($in, $out, $name) = @ARGV;
open my $fh, '<', $in or die "$in: $!";
my @lines = <$fh>;
close $fh;

my $c = "/* generated from " . ($in =~ s{.*/}{}r) . " by embed_lua.pl */\n\n"
      . "#include <ngx_config.h>\n#include <ngx_core.h>\n\n\n"
      . "const char $name\[\] =\n";
for my $l (@lines) {
    chomp $l;
    $l =~ s/\\/\\\\/g;
    $l =~ s/"/\\"/g;
    $c .= "    \"$l\\n\"\n";
}
$c .= "    ;\n";

open my $o, '>', "$out.tmp" or die "$out.tmp: $!";
print $o $c;
close $o;
rename "$out.tmp", $out or die "$out: $!";
