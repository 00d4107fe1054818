vitvizAtlas("cards_L0_attn.in",{"f":[14,18],"vis":["vis/blocks.0.attn.in_f0014.png","vis/blocks.0.attn.in_f0018.png"],"fail":[null,null],"clip":[null,null],"score":[null,[1.158,0.342,0.75]]});
