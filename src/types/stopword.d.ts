// stopword ships no types; only its per-language lists (ISO 639-3 names) are used.
declare module 'stopword' {
  type List = string[];
  export const ara: List, hye: List, eus: List, cat: List, dan: List, nld: List, eng: List, fin: List, fra: List, deu: List, ell: List, hin: List;
  export const hun: List, ind: List, gle: List, ita: List, lit: List, nob: List, por: List, ron: List, rus: List, spa: List, swe: List, tur: List;
}
